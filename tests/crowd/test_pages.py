"""The crowd pages through Django's test client: the task page exists only for the batch's
workers (404 for everyone else, as the API), the home page lists a worker's work, and the
studio's crowd panel shows each person what the access policy lets them do, with the
API's own defaults. The pages' behaviour is covered in tests/browser/."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from django.test import Client

from aggregation.collection import CrowdSettings, create_crowd_batch
from labeling.choices import BatchKind
from labeling.models import Batch
from tests.crowd.world import CrowdWorld
from tests.people import make_user


def client_for(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def crowd_batch(world: CrowdWorld) -> Batch:
    return create_crowd_batch(concept=world.concept, items=[i.pk for i in world.work], user=world.ann,
                              settings=CrowdSettings(method="mv"), cohort=world.cohort)


def test_it_shows_the_task_page_to_a_worker_of_the_batch(crowd: CrowdWorld) -> None:
    batch = crowd_batch(crowd)
    response = client_for(crowd.workers[0]).get(f"/work/{batch.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-batch="{batch.pk}"' in body and "frontend/crowd.js" in body
    assert "csrftoken" in response.cookies  # the answers' POSTs send it back
    assert crowd.items[0].key not in body  # nothing about items is in the page itself


def test_it_answers_404_to_everyone_else_as_the_api_does(crowd: CrowdWorld, api: Any) -> None:
    batch = crowd_batch(crowd)
    outsider = make_user("oli")
    for who in (crowd.zed, crowd.ann, crowd.max, outsider):  # not in the cohort, expert, manager, outsider
        assert client_for(who).get(f"/work/{batch.pk}/").status_code == 404
        api.force_authenticate(who)
        assert api.post("/api/crowd/next/", {"batch": batch.pk}, format="json").status_code == 404


def test_it_answers_404_for_batches_that_take_no_crowd_work(crowd: CrowdWorld) -> None:
    rating = Batch.objects.create(concept=crowd.concept, kind=BatchKind.EXPERT_RATING, created_by=crowd.ann)
    bare = Batch.objects.create(concept=crowd.concept, kind=BatchKind.CROWD, cohort=crowd.cohort,
                                created_by=crowd.ann)  # a crowd batch without collection settings
    client = client_for(crowd.workers[0])
    for pk in (rating.pk, bare.pk, 999_999):
        assert client.get(f"/work/{pk}/").status_code == 404


def test_it_sends_anonymous_visitors_to_log_in(crowd: CrowdWorld) -> None:
    path = f"/work/{crowd_batch(crowd).pk}/"
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={path}"


def test_it_lists_a_workers_work_on_the_home_page(crowd: CrowdWorld) -> None:
    body = client_for(crowd.workers[0]).get("/").content.decode()
    assert 'data-testid="crowd-work"' in body and "frontend/crowd_home.js" in body
    expert = client_for(crowd.ann).get("/").content.decode()
    assert 'data-testid="crowd-work"' not in expert and "crowd_home.js" not in expert


def test_it_links_the_project_page_for_experts_and_managers(crowd: CrowdWorld) -> None:
    link = f'href="/projects/{crowd.project.pk}/"'
    assert link in client_for(crowd.ann).get("/").content.decode()
    assert link in client_for(crowd.max).get("/").content.decode()
    assert link not in client_for(crowd.workers[0]).get("/").content.decode()


def test_it_gives_the_concepts_expert_the_authoring_form_and_the_send_form(crowd: CrowdWorld) -> None:
    body = client_for(crowd.ann).get(f"/concepts/{crowd.concept.pk}/studio/").content.decode()
    assert 'data-testid="crowd-panel"' in body and "frontend/studio_crowd.js" in body
    assert 'data-can-author="1"' in body and 'data-testid="template-save"' in body
    assert 'data-can-send="1"' in body and 'data-testid="send-form"' in body
    assert 'value="Is this an image of &quot;gourmet tuna&quot;?"' in body  # the API's default question


def test_it_gives_a_manager_the_send_form_but_not_the_authoring(crowd: CrowdWorld) -> None:
    body = client_for(crowd.max).get(f"/concepts/{crowd.concept.pk}/studio/").content.decode()
    assert 'data-can-author="0"' in body and 'data-testid="template-save"' not in body
    assert 'data-can-send="1"' in body and 'data-testid="send-form"' in body


def test_it_fills_the_send_form_with_the_apis_defaults_and_bounds(crowd: CrowdWorld) -> None:
    body = client_for(crowd.ann).get(f"/concepts/{crowd.concept.pk}/studio/").content.decode()
    defaults = CrowdSettings()
    for name in ("tau", "kappa", "overlap", "gold_rate", "lease_seconds", "onboarding", "pass_bar", "pause_bar"):
        assert f'value="{getattr(defaults, name)}"' in setting_input(body, name), name
    assert '<option value="gtx" selected>' in body and '<option value="threshold" selected>' in body
    tau = setting_input(body, "tau")
    assert 'min="0.5"' in tau and 'max="1.0"' in tau  # the API's bounds
    assert 'value=""' in setting_input(body, "budget") and "data-optional" in setting_input(body, "budget")
    # The initial overlap follows the source: 1 for training batches, 2 for the evaluation sample.
    overlap = re.search(r'data-by-source="([^"]*)"', setting_input(body, "overlap"))
    assert overlap is not None
    assert json.loads(html.unescape(overlap.group(1))) == {"batch": 1, "uncertain": 1, "random": 1, "items": 1,
                                                           "evaluation": 2}
    assert 'name="k"' in body and 'data-source="uncertain random evaluation"' in body  # the sample's pool and k


def setting_input(body: str, name: str) -> str:
    found = re.search(rf'<input name="{name}"[^>]*>', body)
    assert found is not None, name
    return found.group(0)
