from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from labeling.models import Membership, Project


@pytest.mark.django_db
def test_it_creates_the_demo_people_and_prints_their_logins(api: Any) -> None:
    out = StringIO()
    call_command("demo", "--no-serve", "--no-pool", stdout=out)
    call_command("demo", "--no-serve", "--no-pool", stdout=StringIO())  # running it again changes nothing
    project = Project.objects.get()
    roles = sorted(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == [("expert", "expert"), ("manager", "manager"), ("worker1", "worker"), ("worker2", "worker")]
    assert sorted(project.cohorts.get().workers.values_list("username", flat=True)) == ["worker1", "worker2"]
    printed = out.getvalue()
    assert "expert" in printed and "password: agile-demo" in printed
    assert authenticate(RequestFactory().post("/login/"), username="worker1", password="agile-demo") is not None


def test_it_serves_the_api_docs_without_a_cdn(client: Any, db: Any) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in page and "/static/drf_spectacular_sidecar/" in page


@pytest.mark.django_db
def test_it_says_how_to_serve_when_not_serving_and_gives_an_admin_login() -> None:
    out = StringIO()
    call_command("demo", "--no-serve", "--no-pool", stdout=out)
    printed = out.getvalue()
    assert "Open http" not in printed and "python manage.py demo" in printed
    assert "admin" in printed and "/admin/" in printed
    admin = authenticate(RequestFactory().post("/admin/login/"), username="admin", password="agile-demo")
    assert admin is not None and admin.is_superuser and admin.is_staff


def test_it_draws_one_bar_per_phase_redrawn_in_place() -> None:
    from django.core.management.base import OutputWrapper

    from modeling.management.commands.demo import PhaseBars

    out = StringIO()
    bars = PhaseBars(OutputWrapper(out))
    for done in range(0, 2001, 50):
        bars(done, 2000, "Embedding images")
    bars(0, 1, "Building the index")
    bars(1, 1, "Index built")
    bars.close()
    text = out.getvalue()
    assert text.count("\n") == 3  # one line per phase, however many updates
    lines = [line.split("\r")[-1] for line in text.split("\n") if line]
    assert lines[0].startswith("Embedding images") and "2000/2000" in lines[0] and "img" in lines[0]
    assert "s/img" not in lines[-1] and lines[-1].startswith("Index built")
