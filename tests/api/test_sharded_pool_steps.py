"""Steps that read one-store pools only, asked of a sharded pool, answer a 409 that says so
(never a 500 from a store that is not there): GenMQD, the evaluation metrics, the
expert-vs-crowd report, sending the evaluation sample to the crowd. Pages and files that
merely include metrics go on without them: the manager's dashboard says why, the model
card comes without fresh metrics."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.choices import PoolStatus
from modeling import storage
from tests.people import World


@pytest.fixture
def sharded(world: World) -> World:
    """The world's pool, ready and stored as shards (its manifest is all the check reads)."""
    world.pool.status = PoolStatus.READY
    world.pool.save(update_fields=["status"])
    manifest = storage.store_dir(world.pool) / "shards.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text('{"format": 1, "shards": []}')
    world.model_version.pool = world.pool
    world.model_version.save(update_fields=["pool"])
    assert storage.is_sharded(world.pool)
    return world


def conflict(response: Any, step: str) -> str:
    assert response.status_code == 409, (response.status_code, response.content[:500])
    message = response.json()["error"]
    assert f"Pool {step} is stored as shards" in message and "one-store pools only" in message, message
    return str(message)


def test_genmqd_answers_409_on_a_sharded_pool(api: Any, sharded: World) -> None:
    api.force_authenticate(sharded.ann)
    response = api.post(f"/api/concepts/{sharded.concept.pk}/what-model-needs/", {"pool": sharded.pool.pk},
                        format="json")
    assert "GenMQD" in conflict(response, str(sharded.pool.pk))


def test_metrics_answer_409_on_a_sharded_pool(api: Any, sharded: World) -> None:
    api.force_authenticate(sharded.ann)
    for url in (f"/api/concepts/{sharded.concept.pk}/metrics/?pool={sharded.pool.pk}",
                f"/api/concepts/{sharded.concept.pk}/metrics/"):  # the project's first ready pool
        assert "evaluation metrics" in conflict(api.get(url), str(sharded.pool.pk))
    api.force_authenticate(sharded.max)
    report = api.get(f"/api/concepts/{sharded.concept.pk}/expert-vs-crowd/")
    assert "evaluation metrics" in conflict(report, str(sharded.pool.pk))


def test_the_evaluation_sample_is_not_sent_to_the_crowd_from_a_sharded_pool(api: Any, sharded: World) -> None:
    api.force_authenticate(sharded.ann)
    response = api.post(f"/api/concepts/{sharded.concept.pk}/crowd-batches/",
                        {"cohort": sharded.cohort_a.pk, "source": "evaluation", "pool": sharded.pool.pk,
                         "method": "mv"}, format="json")
    conflict(response, str(sharded.pool.pk))


def test_the_dashboard_and_the_model_card_go_on_without_metrics(api: Any, sharded: World) -> None:
    api.force_authenticate(sharded.max)
    dashboard = api.get(f"/api/projects/{sharded.fish.pk}/dashboard/")
    assert dashboard.status_code == 200, dashboard.content[:500]
    [concept] = [c for c in dashboard.json()["concepts"] if c["id"] == sharded.concept.pk]
    assert "stored as shards" in concept["models"]["unavailable"]
    assert concept["models"]["groups"] == {"expert": [], "crowd": [], "both": []}
    api.force_authenticate(sharded.ann)
    card = api.get(f"/api/model-versions/{sharded.model_version.pk}/card/")
    assert card.status_code == 200, card.content[:500]
