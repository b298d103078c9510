"""The app arm of ``benchmarks/crowd_evaluation.py``: the evaluation sample through the app.

For a (concept, repetition) pair of the array arm, the same 10,000 test images become a pool
of the app (its store reads the benchmark's embedded test store: vectors and features are
symlinks, only ``keys.txt`` is written, with the repetition's key prefix, so the SipHash
sample is the array arm's), the concept's trained models become model versions with their
scores, and then, per cohort, everything runs as a user's request would:

- the sample goes to the cohort as a crowd batch with ``POST /api/concepts/{id}/crowd-batches/
  {"source": "evaluation", "pool", "k", ...}``, called in-process through the API view itself
  (DRF's request factory, authenticated as the concept's expert), with no ``overlap`` given:
  the API's evaluation default applies (checked against ``--overlap``);
- the headless crowd (``aggregation.headless``: 30 simulated workers of the cohort, the array
  arm's accuracies, misreading drawn per answer) pulls and answers through the services the
  API uses (``ServiceTransport``), 20 onboarding golds first (the array arm's gold rows of
  the train pool, expert-labelled), GTX live with tau and kappa as the array arm;
- the metrics are read back from ``modeling.evaluation.concept_metrics``, the service behind
  ``GET /api/concepts/{id}/metrics/``, whose rows say ``evaluated_on: "crowd-posterior"`` and
  carry ``evaluations["crowd-hard"]`` and ``["crowd-posterior"]``.

Each cohort has its own project (a concept's aggregated labels and worker skills are per
concept, and the zero-shot model reads the concept's own name): one concept per CIFAR-10
concept, one pool per repetition, workers' skills kept across repetitions as the array arm
keeps its accuracy estimates. The database is a throwaway SQLite file (or ``DATABASE_URL``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.crowd_live import setup_django

GTX_DEFAULTS = {"method": "gtx", "gold_rate": 0.0, "pass_bar": 0.0, "pause_bar": 0.0}


@dataclass
class CohortWorld:
    project: Any
    cohort: Any
    people: list[Any]
    gold_items: dict[int, int]  # item id -> train-pool row
    pools: dict[int, Any] = field(default_factory=dict)  # rep -> Pool
    rows: dict[int, dict[int, int]] = field(default_factory=dict)  # rep -> item id -> test row
    concepts: dict[str, Any] = field(default_factory=dict)
    golds: dict[str, Any] = field(default_factory=dict)  # concept -> AssessmentSet


class AppArm:
    """The app, set up once per benchmark run; ``run`` does one (concept, rep, cohort)."""

    def __init__(self, test_store: Path, eval_keys: list[str], eval_vectors: np.ndarray, seed: int) -> None:
        setup_django(os.environ.get("DATABASE_URL"))
        from django.conf import settings

        from labeling.choices import Role
        from labeling.models import Membership
        from modeling.engine.index import build_index
        from tests.people import make_user

        self.test_store, self.eval_keys, self.seed = test_store, eval_keys, seed
        self.pools_dir = Path(settings.POOLS_DIR)
        self.index_file = self.pools_dir.parent / "test-index.faiss"
        self.index_file.parent.mkdir(parents=True, exist_ok=True)
        build_index(np.asarray(eval_vectors, dtype=np.float32)).save(self.index_file)
        self.expert = make_user(f"expert-{uuid.uuid4().hex[:6]}")
        self.membership = (Membership, Role)
        self.worlds: dict[str, CohortWorld] = {}

    # ---- the world -------------------------------------------------------------------------
    def world(self, cohort: str, workers: int, gold_rows: np.ndarray) -> CohortWorld:
        from aggregation.headless import enlist
        from labeling.models import Cohort, Item, Pool, Project

        if cohort in self.worlds:
            return self.worlds[cohort]
        Membership, Role = self.membership
        tag = uuid.uuid4().hex[:6]
        project = Project.objects.create(name=f"crowd-evaluation {cohort} {tag}", created_by=self.expert)
        Membership.objects.create(project=project, user=self.expert, role=Role.EXPERT)
        group = Cohort.objects.create(project=project, name=cohort)
        people = enlist(project, group, workers, f"ce-{tag}")
        gold_pool = Pool.objects.create(project=project, name="gold (train images)", source="", status="ready")
        made = Item.objects.bulk_create([Item(pool=gold_pool, key=f"train/{int(r)}", row=j)
                                         for j, r in enumerate(gold_rows)])
        world = CohortWorld(project, group, people, {item.pk: int(r) for item, r in zip(made, gold_rows)})
        self.worlds[cohort] = world
        return world

    def pool(self, world: CohortWorld, rep: int) -> Any:
        """The test images as a ready pool whose keys carry the repetition's prefix."""
        from labeling.models import Item, Pool
        from modeling import storage

        if rep in world.pools:
            return world.pools[rep]
        pool = Pool.objects.create(project=world.project, name=f"test r{rep}", source="", status="ready",
                                   encoder="offline")
        store = storage.store_dir(pool)
        store.mkdir(parents=True)
        for name in ("store.json", "vectors.npy", "features.npy"):
            (store / name).symlink_to(self.test_store / name)
        keys = [f"r{self.seed}-{rep}/{key}" for key in self.eval_keys]
        text = ("\n".join(keys) + "\n").encode()
        (store / "keys.txt").write_bytes(text)
        (store / "commit.json").write_text(json.dumps({"rows": len(keys), "keys_bytes": len(text)}))
        storage.index_path(pool).symlink_to(self.index_file)
        storage.index_path(pool).with_name("index.faiss.json").symlink_to(self.index_file.with_name(
            self.index_file.name + ".json"))
        made = Item.objects.bulk_create([Item(pool=pool, key=key, row=i) for i, key in enumerate(keys)],
                                        batch_size=2000)
        world.pools[rep] = pool
        world.rows[rep] = {item.pk: i for i, item in enumerate(made)}
        return pool

    def concept(self, world: CohortWorld, name: str, phrases: list[str], gold_truth: np.ndarray) -> Any:
        """The concept (its name and phrases as the benchmark's) with an assessment set of the golds."""
        from labeling.choices import LabelSource
        from labeling.models import Concept, Label
        from labeling.services import build_assessment_set

        if name in world.concepts:
            return world.concepts[name]
        concept = Concept.objects.create(project=world.project, owner=self.expert, name=name,
                                         positive_phrases=[p for p in phrases if p != name])
        Label.objects.bulk_create([Label(item_id=item, concept=concept, value=bool(gold_truth[j]),
                                         source=LabelSource.EXPERT, method="expert")
                                   for j, item in enumerate(world.gold_items)])
        world.golds[name] = build_assessment_set(concept=concept, user=self.expert, name="gold",
                                                 items=list(world.gold_items))
        world.concepts[name] = concept
        return concept

    def models(self, concept: Any, pool: Any, scores: dict[str, np.ndarray]) -> dict[int, str]:
        """Model versions on ``pool`` holding the benchmark's scores; version number -> model name."""
        from modeling import storage
        from modeling.models import ModelVersion

        numbers: dict[int, str] = {}
        for name, values in scores.items():
            if name == "zero-shot":
                continue  # the app computes its own from the pool's vectors and the concept's phrases
            number = (ModelVersion.objects.filter(concept=concept).order_by("-number")
                      .values_list("number", flat=True).first() or 0) + 1
            version = ModelVersion.objects.create(concept=concept, pool=pool, number=number, source="expert",
                                                  label_count=int(name.split("-")[-1]))
            storage.save_array(storage.scores_path(version), np.asarray(values, dtype=np.float64))
            numbers[number] = name
        return numbers

    # ---- one run ---------------------------------------------------------------------------
    def send(self, concept: Any, world: CohortWorld, pool: Any, body: dict[str, Any]) -> int:
        """``POST /api/concepts/{id}/crowd-batches/`` through the API view, as the expert."""
        from rest_framework.test import APIRequestFactory, force_authenticate

        from modeling.crowd_views import CrowdBatchView

        request = APIRequestFactory().post(f"/api/concepts/{concept.pk}/crowd-batches/", {
            "cohort": world.cohort.pk, "assessment_set": world.golds[concept.name].pk, "source": "evaluation",
            "pool": pool.pk, **body}, format="json")
        force_authenticate(request, user=self.expert)
        response = CrowdBatchView.as_view()(request, pk=concept.pk)
        if response.status_code != 201:
            raise RuntimeError(f"crowd-batches: HTTP {response.status_code}: {response.data}")
        return int(response.data["batch"])

    def run(self, *, concept_name: str, phrases: list[str], cohort: str, rep: int, scores: dict[str, np.ndarray],
            accuracy: np.ndarray, misread: float, gold_rows: np.ndarray, test_truth: np.ndarray,
            test_by_name: np.ndarray, pool_truth: np.ndarray, pool_by_name: np.ndarray, k: int, tau: float,
            kappa: int, overlap: int, default_overlap: int, golds: int) -> dict[str, Any]:
        from aggregation.headless import ServiceTransport, SimulatedWorker, run_crowd
        from aggregation.models import Collection, CollectionItem
        from labeling.choices import LabelSource
        from labeling.models import Label
        from modeling.evaluation import concept_metrics

        world = self.world(cohort, accuracy.size, gold_rows)
        pool = self.pool(world, rep)
        concept = self.concept(world, concept_name, phrases, pool_truth[gold_rows])
        numbers = self.models(concept, pool, scores)
        body: dict[str, Any] = {"k": k, "tau": tau, "kappa": kappa, "onboarding": golds, **GTX_DEFAULTS,
                                "seed": rep}
        if overlap != default_overlap:
            body["overlap"] = overlap  # otherwise the API's evaluation default applies
        batch = self.send(concept, world, pool, body)
        collection = Collection.objects.get(batch_id=batch)
        if collection.overlap != overlap:
            raise RuntimeError(f"the API gave overlap {collection.overlap}, the array arm runs {overlap}")

        rows = world.rows[rep]
        streams = [self.seed, rep, zlib.crc32(cohort.encode()), zlib.crc32(concept_name.encode())]
        rng = np.random.default_rng(streams)

        def truth(item_id: int) -> bool:
            misreads = rng.random() < misread
            if item_id in rows:
                row = rows[item_id]
                return bool(test_by_name[row] if misreads else test_truth[row])
            row = world.gold_items[item_id]
            return bool(pool_by_name[row] if misreads else pool_truth[row])

        workers = [SimulatedWorker(u.username, float(a), ServiceTransport(u), np.random.default_rng([*streams, j]))
                   for j, (u, a) in enumerate(zip(world.people, accuracy))]
        started = time.perf_counter()
        crowd = run_crowd(batch, workers, truth)
        seconds = time.perf_counter() - started
        metrics = concept_metrics(concept, pool)
        metric_seconds = time.perf_counter() - started - seconds

        work = CollectionItem.objects.filter(collection=collection, is_gold=False)
        sampled = sorted(rows[i] for i in work.values_list("item_id", flat=True))
        labels = dict(Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED,
                                           item_id__in=work.values("item_id")).values_list("item_id", "value"))
        wrong = [bool(v) != bool(test_truth[rows[i]]) for i, v in labels.items()]
        out_models: dict[str, dict[str, Any]] = {}
        rows_by_name = {"zero-shot": metrics["zero_shot"] or {}}
        rows_by_name |= {numbers[m["number"]]: m for m in metrics["models"] if m["number"] in numbers}
        for name, row in rows_by_name.items():
            out_models[name] = {"evaluated_on": row.get("evaluated_on"), **{
                basis: {metric: (found[metric], found[f"{metric}_low"], found[f"{metric}_high"])
                        for metric in ("auc_pr", "f1")}
                for basis, found in (row.get("evaluations") or {}).items()}}
        return {"rep": rep, "items": len(sampled), "sample_rows": sampled,
                "answers": int(sum(work.values_list("n_answers", flat=True))), "answers_with_golds": crowd.answers,
                "labelled": len(labels), "label_error": float(np.mean(wrong)) if wrong else float("nan"),
                "seconds": seconds, "metric_seconds": metric_seconds, "overlap": collection.overlap,
                "models": out_models}
