"""The expert pages through Django's test client: they render for the project's experts
(and managers, who read the same), and do not exist for workers, outsiders or anyone
logged out. No browser: the studio's behaviour is covered by test_expert_studio.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.people import World

pytestmark = pytest.mark.django_db


def client_for(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_it_shows_the_project_page_to_an_expert(world: World) -> None:
    response = client_for(world.ann).get(f"/projects/{world.fish.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-project="{world.fish.pk}"' in body
    assert "frontend/studio_project.js" in body
    assert 'data-testid="concept-form"' in body
    assert "csrftoken" in response.cookies  # the page's fetch calls send it back


def test_it_shows_the_studio_of_a_concept_to_an_expert(world: World) -> None:
    response = client_for(world.ann).get(f"/concepts/{world.concept.pk}/studio/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-concept="{world.concept.pk}"' in body and f'data-project="{world.fish.pk}"' in body
    assert "gourmet tuna" in body and "sashimi grade tuna" in body
    assert "frontend/studio.js" in body
    assert "csrftoken" in response.cookies


def test_it_shows_both_pages_to_a_manager(world: World) -> None:
    client = client_for(world.max)
    assert client.get(f"/projects/{world.fish.pk}/").status_code == 200
    assert client.get(f"/concepts/{world.concept.pk}/studio/").status_code == 200


@pytest.mark.parametrize("who", ["bob", "oli"])
def test_it_hides_both_pages_from_a_worker_and_an_outsider(world: World, who: str) -> None:
    client = client_for(getattr(world, who))
    assert client.get(f"/projects/{world.fish.pk}/").status_code == 404
    assert client.get(f"/concepts/{world.concept.pk}/studio/").status_code == 404


def test_it_sends_anonymous_visitors_to_log_in(world: World) -> None:
    for path in (f"/projects/{world.fish.pk}/", f"/concepts/{world.concept.pk}/studio/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={path}"


def test_it_answers_404_for_pages_that_do_not_exist(world: World) -> None:
    client = client_for(world.ann)
    assert client.get("/projects/999999/").status_code == 404
    assert client.get("/concepts/999999/studio/").status_code == 404


def test_it_links_an_experts_projects_from_the_home_page(world: World) -> None:
    assert f'href="/projects/{world.fish.pk}/"' in client_for(world.ann).get("/").content.decode()
    assert f'href="/projects/{world.fish.pk}/"' not in client_for(world.bob).get("/").content.decode()
