#!/usr/bin/env python
"""Studio latency: what an expert waits for.

1. Rating: server time from a rating POST to the next item being available (the POST of
   an answer plus the GET of the next open assignment), median and p95 over --ratings
   ratings, through the full Django + DRF stack with session auth, on SQLite and on
   PostgreSQL (a throwaway server started by scripts/services.sh unless --postgres-url).
2. Training: time from "train" to a new model and the next batch (train + score the
   whole pool + select) on the 50,000-image CIFAR-10 train pool embedded by the offline
   encoder, through the same job function the studio runs.

Targets (issue 6): p95 <= 50 ms per rating; train + score + select <= 10 s on 50k items.

    .venv/bin/python benchmarks/studio_latency.py [--ratings 1000] [--databases sqlite,postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AGILE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- child: runs inside one database configuration ------------------------------------------

def setup_django(var_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["AGILE_VAR_DIR"] = str(var_dir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def measure_ratings(n: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from labeling.choices import BatchKind, Role
    from labeling.models import Concept, Item, Membership, Pool, Project
    from labeling.services import create_batch

    user = get_user_model().objects.create_user("bench-expert", password="x")
    project = Project.objects.create(name="bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.EXPERT)
    pool = Pool.objects.create(project=project, name="bench", source="/nonexistent", status="ready")
    Item.objects.bulk_create([Item(pool=pool, key=f"img/{i:06d}.jpg", row=i) for i in range(max(n, 50_000))],
                             batch_size=5000)
    concept = Concept.objects.create(project=project, owner=user, name="bench concept")
    items = list(Item.objects.filter(pool=pool).order_by("row").values_list("id", flat=True)[:n])
    batch = create_batch(concept=concept, kind=BatchKind.EXPERT_RATING, items=items, assignee=user)
    client = Client()
    client.force_login(user)
    next_url = f"/api/assignments/?batch={batch.pk}&mine=1&status=open&limit=1"
    current = client.get(next_url).json()["results"][0]
    post_ms, cycle_ms = [], []
    for i in range(n):
        started = time.perf_counter()
        response = client.post("/api/answers/", {"assignment": current["id"], "value": "yes" if i % 3 else "no",
                                                 "client_id": str(uuid.uuid4()), "seconds": 0.8},
                               content_type="application/json")
        posted = time.perf_counter()
        assert response.status_code == 201, response.content
        following = client.get(next_url).json()["results"]
        done = time.perf_counter()
        post_ms.append((posted - started) * 1000)
        cycle_ms.append((done - started) * 1000)
        if following:
            current = following[0]
    return {"ratings": n, "post_median_ms": statistics.median(post_ms), "post_p95_ms": percentile(post_ms, 0.95),
            "median_ms": statistics.median(cycle_ms), "p95_ms": percentile(cycle_ms, 0.95)}


def measure_training(repeats: int) -> dict[str, Any]:
    import numpy as np
    from django.contrib.auth import get_user_model

    from jobs.execution import run_job
    from jobs.models import Job
    from labeling.choices import LabelSource, Role
    from labeling.models import Concept, Item, Label, Membership, Pool, Project
    from modeling import storage
    from modeling.engine.embedding import embed_source
    from modeling.engine.index import build_index
    from modeling.models import ModelVersion

    user = get_user_model().objects.create_user("train-expert", password="x")
    project = Project.objects.create(name="train bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.EXPERT)
    source = SHARED / "cifar10" / "train.zip"
    pool = Pool.objects.create(project=project, name="cifar10-train", source=str(source), status="ready")
    print("  embedding CIFAR-10 train (from the cache after the first run) ...", file=sys.stderr, flush=True)
    result = embed_source(source, storage.encoder_for("offline"), storage.store_dir(pool))
    build_index(result.store.vectors).save(storage.index_path(pool))
    keys = list(result.store.keys)
    Item.objects.bulk_create([Item(pool=pool, key=k, row=r) for r, k in enumerate(keys)], batch_size=5000)
    truth = np.array([lab == "airplane" for lab in result.labels])
    concept = Concept.objects.create(project=project, owner=user, name="airplane")
    rng = np.random.default_rng(0)
    runs: list[dict[str, Any]] = []
    for labels_spent in (100, 600):  # the initial 1x16 model, then 3x128 models
        have = set(Label.objects.filter(concept=concept).values_list("item__row", flat=True))
        positives = [r for r in rng.permutation(np.flatnonzero(truth)) if r not in have]
        others = [r for r in rng.permutation(np.flatnonzero(~truth)) if r not in have]
        need = labels_spent - len(have)
        chosen = positives[: need * 3 // 10] + others[: need - need * 3 // 10]
        by_row = dict(Item.objects.filter(pool=pool, row__in=[int(r) for r in chosen]).values_list("row", "id"))
        Label.objects.bulk_create([Label(item_id=by_row[int(r)], concept=concept, value=bool(truth[r]),
                                         source=LabelSource.EXPERT, method="expert") for r in chosen])
        for _ in range(repeats):
            job = Job.objects.create(project=project, kind="al_round", created_by=user, params={
                "concept": concept.pk, "pool": pool.pk, "strategy": "margin", "batch_size": 100, "train": True})
            started = time.perf_counter()
            run_job(job.pk)
            elapsed = time.perf_counter() - started
            job.refresh_from_db()
            assert job.status == Job.Status.SUCCEEDED, job.error
            hidden = ModelVersion.objects.get(pk=job.result["model_version"]).config["hidden"]
            runs.append({"labels": labels_spent, "total_seconds": elapsed, "model": "x".join(map(str, hidden)),
                         **{k: v for k, v in job.result.items() if k.endswith("_seconds")}})
    return {"pool_items": len(keys), "runs": runs}


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="studio-latency-") as var:
        setup_django(Path(var))
        from django.db import connection

        out: dict[str, Any] = {"database": connection.vendor, "ratings": measure_ratings(args.ratings)}
        if args.train:
            os.environ.setdefault("AGILE_CACHE_DIR", str(ROOT / "var" / "cache"))
            from django.conf import settings

            settings.EMBEDDING_CACHE_DIR = Path(os.environ["AGILE_CACHE_DIR"])
            out["training"] = measure_training(args.repeats)
        print("RESULT " + json.dumps(out), flush=True)


# --- parent: one child per database, then the tables --------------------------------------

def run_child(database: str, args: argparse.Namespace, train: bool) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve()), "--child", "--ratings", str(args.ratings),
          "--repeats", str(args.repeats)] + (["--train"] if train else [])
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if database == "sqlite":
        command = me
    elif args.postgres_url:
        env["DATABASE_URL"] = args.postgres_url
        command = me
    else:  # a throwaway PostgreSQL on loopback, the same way the test suite starts one
        quoted = " ".join(f"'{part}'" for part in me)
        command = ["bash", "-c", f"source '{ROOT}/scripts/services.sh' && services_start >&2 && "
                                 f"trap services_stop EXIT && DATABASE_URL=$SERVICES_DATABASE_URL {quoted}"]
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"the {database} run failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def print_tables(results: list[dict[str, Any]]) -> None:
    print("\nRating: server time from a rating POST to the next item (full Django + DRF stack)")
    print(f"{'database':<12}{'ratings':>8}{'POST med':>10}{'POST p95':>10}{'+next med':>11}{'+next p95':>11}  target p95<=50ms")
    for r in results:
        q = r["ratings"]
        ok = "met" if q["p95_ms"] <= 50 else "MISSED"
        print(f"{r['database']:<12}{q['ratings']:>8}{q['post_median_ms']:>9.1f}ms{q['post_p95_ms']:>9.1f}ms"
              f"{q['median_ms']:>10.1f}ms{q['p95_ms']:>10.1f}ms  {ok}")
    for r in results:
        if "training" not in r:
            continue
        t = r["training"]
        print(f"\nTrain -> new model -> next batch of 100, CIFAR-10 train pool ({t['pool_items']:,} items), margin")
        print(f"{'labels':>7}{'model':>13}{'train s':>9}{'score s':>9}{'select s':>10}{'total s':>9}  target total<=10s")
        for run in t["runs"]:
            ok = "met" if run["total_seconds"] <= 10 else "MISSED"
            print(f"{run['labels']:>7}{run['model']:>13}{run['train_seconds']:>9.2f}{run['score_seconds']:>9.2f}"
                  f"{run['select_seconds']:>10.2f}{run['total_seconds']:>9.2f}  {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=1000, help="ratings to time per database (default 1000)")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--postgres-url", help="use this PostgreSQL instead of starting a throwaway one")
    parser.add_argument("--repeats", type=int, default=3, help="train+score+select runs per label count")
    parser.add_argument("--no-train", action="store_true", help="skip the 50k-pool training measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    results = [run_child(db, args, train=(i == 0 and not args.no_train)) for i, db in enumerate(databases)]
    print_tables(results)
    load = os.getloadavg()[0]
    print(f"\nload average during the run: {load:.1f} on {os.cpu_count()} cores")
    if args.json:
        print(json.dumps({"results": results, "load_average": load}))


if __name__ == "__main__":
    main()
