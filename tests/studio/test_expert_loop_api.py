"""The expert loop through the API, end to end, on a small real pool with the real
offline encoder: pool -> concept -> expansion -> rate -> train -> AL round -> evaluation
set -> metrics -> download and reuse the model."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.models import Job
from labeling.models import Assignment, Batch, Concept, Item, Pool
from modeling import evaluation, job_functions
from modeling.engine.store import EmbeddingStore
from modeling.engine.trainer import TrainedModel, score_pool
from modeling.models import ModelVersion
from tests.people import World
from tests.studio.conftest import run_queued_jobs

pytestmark = pytest.mark.slow


def rate_batch(api: Any, batch_id: int, positive_class: str = "airplane") -> int:
    """The expert answers every open assignment of the batch from the item's folder (truth)."""
    open_rows = api.get(f"/api/assignments/?batch={batch_id}&mine=1&status=open&limit=1000").json()["results"]
    for row in open_rows:
        key = Item.objects.get(pk=row["item"]).key
        value = "yes" if key.split("/")[0] == positive_class else "no"
        response = api.post("/api/answers/", {"assignment": row["id"], "value": value,
                                              "client_id": str(uuid.uuid4())}, format="json")
        assert response.status_code == 201, response.json()
    return len(open_rows)


def rated_airplane_concept(api: Any, world: World, pool: dict[str, Any]) -> dict[str, Any]:
    """Concept "airplane" with its 40-item expansion batch created and rated from the truth."""
    concept = api.post("/api/concepts/", {"project": world.fish.pk, "name": "airplane"}, format="json").json()
    api.post(f"/api/concepts/{concept['id']}/expand/", {"pool": pool["id"], "size": 40}, format="json")
    [expanded] = run_queued_jobs()
    rate_batch(api, expanded.result["batch"])
    return dict(concept)


def make_pool(api: Any, world: World, folder: Path) -> dict[str, Any]:
    response = api.post("/api/pools/", {"project": world.fish.pk, "name": "cifar", "source": str(folder)},
                        format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["job"]["kind"] == "embed_pool" and response.json()["status"] == "new"
    [job] = run_queued_jobs()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["items"] == 64 and job.done == job.total
    return response.json()


def test_it_runs_the_whole_expert_loop(api: Any, world: World, studio_settings: Any, cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = api.post("/api/concepts/", {"project": world.fish.pk, "name": "airplane",
                                          "positive_phrases": ["jet plane"], "negative_phrases": ["bird"]},
                       format="json").json()

    job = api.post(f"/api/concepts/{concept['id']}/expand/", {"pool": pool["id"], "size": 30}, format="json")
    assert job.status_code == 202 and job.json()["status"] == "queued"
    [expanded] = run_queued_jobs()
    first_batch = expanded.result["batch"]
    assert expanded.result["size"] == 30
    assert rate_batch(api, first_batch) == 30

    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
    [trained] = run_queued_jobs()
    assert trained.status == Job.Status.SUCCEEDED, trained.error
    v1 = ModelVersion.objects.get(pk=trained.result["model_version"])
    assert v1.number == 1 and v1.config["hidden"] == [16] and v1.label_count == 30

    api.post(f"/api/concepts/{concept['id']}/rounds/", {"pool": pool["id"], "strategy": "margin",
                                                        "batch_size": 10}, format="json")
    [round_job] = run_queued_jobs()
    assert round_job.status == Job.Status.SUCCEEDED, round_job.error
    second = Batch.objects.get(pk=round_job.result["batch"])
    assert second.round == 1 and second.selection == "margin" and second.assignments.count() == 10
    first_items = set(Assignment.objects.filter(batch_id=first_batch).values_list("item_id", flat=True))
    assert not first_items & set(second.assignments.values_list("item_id", flat=True))  # never re-asked
    rate_batch(api, second.pk)

    api.post(f"/api/concepts/{concept['id']}/rounds/", {"pool": pool["id"], "batch_size": 5, "train": True,
                                                        "strategy": "badge"}, format="json")
    [retrain] = run_queued_jobs()
    assert retrain.status == Job.Status.SUCCEEDED, retrain.error
    v2 = ModelVersion.objects.get(pk=retrain.result["model_version"])
    assert v2.number == 2 and v2.config["hidden"] == [128, 128, 128] and v2.label_count == 40
    third = Batch.objects.get(pk=retrain.result["batch"])  # picked by v2's gradient embeddings
    assert third.selection == "badge" and third.assignments.count() == 5
    asked_before = first_items | set(second.assignments.values_list("item_id", flat=True))
    assert not asked_before & set(third.assignments.values_list("item_id", flat=True))

    before = api.get(f"/api/concepts/{concept['id']}/metrics/").json()
    assert before["zero_shot"] is None and [m["number"] for m in before["models"]] == [1, 2]
    api.post(f"/api/concepts/{concept['id']}/evaluation-set/", {"pool": pool["id"], "k": 3}, format="json")
    [evaluation] = run_queued_jobs()
    assert evaluation.status == Job.Status.SUCCEEDED, evaluation.error
    assert Batch.objects.get(pk=evaluation.result["batch"]).kind == "evaluation"
    rate_batch(api, evaluation.result["batch"])

    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
    [after_evaluation] = run_queued_jobs()
    v3 = ModelVersion.objects.get(pk=after_evaluation.result["model_version"])
    assert v3.label_count == 40  # the evaluation set's labels never enter training

    metrics = api.get(f"/api/concepts/{concept['id']}/metrics/").json()
    assert metrics["evaluation"]["rated"] == metrics["evaluation"]["size"] > 0
    assert 0 <= metrics["zero_shot"]["auc_pr"] <= 1
    assert [m["number"] for m in metrics["models"]] == [1, 2, 3]
    for row in metrics["models"]:
        assert 0 <= row["auc_pr"] <= 1 and row["auc_pr_low"] <= row["auc_pr"] <= row["auc_pr_high"]
    assert "margin" in metrics["strategies"]


def test_it_downloads_a_model_and_scores_a_pool_with_it(api: Any, world: World, studio_settings: Any,
                                                       cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
    [trained] = run_queued_jobs()

    response = api.get(f"/api/model-versions/{trained.result['model_version']}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["card.json", "model.pt"]
    model_file = Path(studio_settings.POOLS_DIR) / "downloaded.pt"
    model_file.write_bytes(archive.read("model.pt"))
    assert TrainedModel.load(model_file).input_dim == 1280

    api.post(f"/api/model-versions/{trained.result['model_version']}/score/", {"pool": pool["id"]}, format="json")
    [scored] = run_queued_jobs()
    assert scored.status == Job.Status.SUCCEEDED, scored.error
    scores = np.load(scored.result["scores_file"])
    assert scores.shape == (64,)
    top_keys = Item.objects.filter(pk__in=[t["item"] for t in scored.result["top"][:10]]).values_list("key", flat=True)
    assert sum(k.startswith("airplane/") for k in top_keys) >= 6  # 24 of 64 are airplanes


def test_a_big_pool_keeps_an_int8_copy_and_scores_from_it(api: Any, world: World, studio_settings: Any,
                                                          cifar_folder: Path) -> None:
    studio_settings.EMBEDDING_INT8_MIN_ROWS = 64  # this pool counts as big
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    store = EmbeddingStore.open(Path(studio_settings.POOLS_DIR) / str(pool["id"]) / "store")
    copy = store.int8("features")
    assert copy is not None and copy.shape == (64, 1280)
    concept = rated_airplane_concept(api, world, pool)
    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
    [trained] = run_queued_jobs()
    assert trained.status == Job.Status.SUCCEEDED, trained.error
    # The result says which kernel path scored the pool and what it streamed.
    assert trained.result["scoring"]["source"] == "int8 copy" and trained.result["scoring"]["path"] == "fp32"
    version = ModelVersion.objects.get(pk=trained.result["model_version"])
    model = TrainedModel.load(Path(version.file_path))
    saved = np.load(Path(studio_settings.POOLS_DIR) / str(pool["id"]) / "scores" / f"{concept['id']}-v1.npy")
    np.testing.assert_array_equal(saved, score_pool(model, copy))  # the pool was scored from the copy
    np.testing.assert_allclose(saved, score_pool(model, store.features, precision="fp32"), atol=0.03)


def test_each_model_keeps_what_the_one_before_calls_positive_out_of_its_random_negatives(
        api: Any, world: World, studio_settings: Any, cifar_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[np.ndarray] = []

    def recording_train(*args: Any, previous_scores: np.ndarray, **kwargs: Any) -> TrainedModel:
        seen.append(np.array(previous_scores))
        return job_functions_train(*args, previous_scores=previous_scores, **kwargs)

    job_functions_train = job_functions.train
    monkeypatch.setattr(job_functions, "train", recording_train)
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = rated_airplane_concept(api, world, pool)
    for _ in range(2):
        api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
        [trained] = run_queued_jobs()
        assert trained.status == Job.Status.SUCCEEDED, trained.error
    zero_shot = evaluation.zero_shot_pool_scores(Concept.objects.get(pk=concept["id"]), Pool.objects.get(pk=pool["id"]))
    first_scores = np.load(Path(studio_settings.POOLS_DIR) / str(pool["id"]) / "scores" / f"{concept['id']}-v1.npy")
    assert len(seen) == 2 and seen[0].shape == (64,)
    np.testing.assert_array_equal(seen[0], zero_shot)  # the first model: zero-shot
    np.testing.assert_array_equal(seen[1], first_scores)  # then the model before


def test_it_rebuilds_a_pools_index_as_a_job_with_progress(api: Any, world: World, studio_settings: Any,
                                                          cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    index_file = Path(studio_settings.POOLS_DIR) / str(pool["id"]) / "index.faiss"
    before = index_file.stat().st_mtime_ns
    response = api.post(f"/api/pools/{pool['id']}/index/", format="json")
    assert response.status_code == 202 and response.json()["kind"] == "build_index"
    [built] = run_queued_jobs()
    assert built.status == Job.Status.SUCCEEDED, built.error
    assert built.result["vectors"] == 64 and built.result["dim"] == 384 and built.done == built.total == 64
    assert index_file.stat().st_mtime_ns > before and not list(index_file.parent.glob(".index*"))
    api.force_authenticate(world.bob)  # a worker does not even see the pool
    assert api.post(f"/api/pools/{pool['id']}/index/", format="json").status_code == 404


def test_it_refuses_work_on_a_pool_that_is_not_ready(api: Any, world: World, studio_settings: Any) -> None:
    api.force_authenticate(world.ann)
    response = api.post(f"/api/concepts/{world.concept.pk}/expand/", {"pool": world.pool.pk}, format="json")
    assert response.status_code == 409 and "not ready" in response.json()["error"]
    response = api.post(f"/api/pools/{world.pool.pk}/index/", format="json")
    assert response.status_code == 409 and response.json()["field"] is None


def test_it_lets_only_the_owner_start_concept_jobs(api: Any, world: World, studio_settings: Any) -> None:
    for user, expected in [(world.eve, 403), (world.max, 403), (world.bob, 404), (world.oli, 404)]:
        api.force_authenticate(user)
        response = api.post(f"/api/concepts/{world.concept.pk}/train/", {"pool": world.pool.pk}, format="json")
        assert response.status_code == expected, user
    assert not Job.objects.filter(kind="train").exists()


def test_it_names_a_bad_strategy(api: Any, world: World, studio_settings: Any) -> None:
    api.force_authenticate(world.ann)
    response = api.post(f"/api/concepts/{world.concept.pk}/rounds/", {"pool": world.pool.pk, "strategy": "magic"},
                        format="json")
    assert response.status_code == 400 and response.json()["field"] == "strategy"


def test_it_reports_no_metrics_while_a_stratum_has_no_rated_sample(api: Any, world: World, studio_settings: Any,
                                                                    cifar_folder: Path) -> None:
    api.force_authenticate(world.ann)
    pool = make_pool(api, world, cifar_folder)
    concept = api.post("/api/concepts/", {"project": world.fish.pk, "name": "airplane"}, format="json").json()
    api.post(f"/api/concepts/{concept['id']}/expand/", {"pool": pool["id"], "size": 30}, format="json")
    rate_batch(api, run_queued_jobs()[0].result["batch"])
    api.post(f"/api/concepts/{concept['id']}/train/", {"pool": pool["id"]}, format="json")
    run_queued_jobs()
    api.post(f"/api/concepts/{concept['id']}/evaluation-set/", {"pool": pool["id"], "k": 2}, format="json")
    [evaluation] = run_queued_jobs()
    open_rows = api.get(f"/api/assignments/?batch={evaluation.result['batch']}&status=open").json()["results"]
    for row in open_rows[: len(open_rows) // 2]:  # half rated: some strata have no rated item yet
        value = "yes" if Item.objects.get(pk=row["item"]).key.startswith("airplane/") else "no"
        api.post("/api/answers/", {"assignment": row["id"], "value": value, "client_id": str(uuid.uuid4())},
                 format="json")
        response = api.get(f"/api/concepts/{concept['id']}/metrics/")
        assert response.status_code == 200, response.json()
