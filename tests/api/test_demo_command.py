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
