"""The crowd loop as users meet it: (a) the GTX study's confidence-threshold setting run
through the app's services with the headless crowd, beside the engine simulator on the
same settings; (b) the app under load on PostgreSQL over HTTP.

(a) Labelers U(0.8, 1.0) and U(0.6, 0.9) (the seed study's Table 1), 10 labelers, 4,000
    items with uniformly random truth (more than the budget covers), a budget of 3,000
    work answers, GTX with kappa 5 and the study's best tau for it (0.99 and 0.98),
    accuracies from a 10 % assessment set: every labeler answers 10 % x 3,000 / 10 = 30
    gold items first (the app's onboarding, pass and pause bars off so nobody is turned
    away, as in the simulator). The app runs its real path: expert labels -> assessment
    set -> crowd batch -> each simulated worker pulls "next", answers, items are re-asked
    live until tau or kappa, labels are written in the answer's transaction. The engine
    runs ``aggregation.engine.simulate`` on the same settings. Reported per side: labels
    per labelled item, items labelled, error rate and MAE of the confidence, as means over
    repetitions with 95 % intervals (mean +- 1.96 sd / sqrt(reps)); "agree" says whether
    the two sides' intervals overlap.
(b) See ``load`` below (PostgreSQL + a real server; ``--part b``).

    .venv/bin/python benchmarks/crowd_live.py --part a [--app-reps 6] [--engine-reps 100] [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._aggregation_common import emit_json, print_table  # noqa: E402

RANGES = {"U(0.8, 1.0)": ((0.8, 1.0), 0.99), "U(0.6, 0.9)": ((0.6, 0.9), 0.98)}
LABELERS, ITEMS, BUDGET, KAPPA = 10, 4_000, 3_000, 5
GOLDS = round(0.1 * BUDGET / LABELERS)


def setup_django(database_url: str | None) -> None:
    """A throwaway SQLite database unless DATABASE_URL (e.g. PostgreSQL) is given."""
    scratch = Path(tempfile.mkdtemp(prefix="crowd-live-"))
    os.environ.setdefault("DATABASE_URL", database_url or f"sqlite:///{scratch / 'db.sqlite3'}")
    os.environ.setdefault("AGILE_VAR_DIR", str(scratch / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


@dataclass(frozen=True)
class RepResult:
    labels_per_item: float
    items_labeled: float
    error_rate: float
    mae: float
    seconds: float
    answers: int


def app_repetition(bounds: tuple[float, float], tau: float, rep: int, seed: int) -> RepResult:
    """One world through the app: people, pool, gold, crowd batch, headless crowd."""
    from aggregation.collection import CrowdSettings, create_crowd_batch
    from aggregation.headless import ServiceTransport, SimulatedWorker, enlist, run_crowd
    from aggregation.models import CollectionItem
    from labeling.choices import LabelSource, Role
    from labeling.models import Cohort, Concept, Item, Label, Membership, Pool, Project
    from labeling.services import build_assessment_set
    from tests.people import make_user

    rng = np.random.default_rng([seed, rep])
    tag = uuid.uuid4().hex[:8]
    expert = make_user(f"expert-{tag}")
    project = Project.objects.create(name=f"crowd-live {tag}", created_by=expert)
    Membership.objects.create(project=project, user=expert, role=Role.EXPERT)
    pool = Pool.objects.create(project=project, name="synthetic", source="", status="ready")
    truth_values = rng.integers(2, size=ITEMS + GOLDS).astype(bool)
    items = Item.objects.bulk_create([Item(pool=pool, key=f"i{i}", row=i) for i in range(ITEMS + GOLDS)])
    truth = {item.pk: bool(v) for item, v in zip(items, truth_values)}
    concept = Concept.objects.create(project=project, owner=expert, name="thing")
    gold_items = items[ITEMS:]
    Label.objects.bulk_create([Label(item=i, concept=concept, value=truth[i.pk], source=LabelSource.EXPERT,
                                     method="expert") for i in gold_items])
    gold = build_assessment_set(concept=concept, user=expert, name="gold", items=[i.pk for i in gold_items])
    cohort = Cohort.objects.create(project=project, name="crowd")
    people = enlist(project, cohort, LABELERS, f"w-{tag}")
    settings = CrowdSettings(method="gtx", tau=tau, kappa=KAPPA, budget=BUDGET, gold_rate=0.0, onboarding=GOLDS,
                             pass_bar=0.0, pause_bar=0.0, seed=rep)
    batch = create_crowd_batch(concept=concept, items=[i.pk for i in items[:ITEMS]], user=expert,
                               settings=settings, cohort=cohort, assessment_set=gold)
    accuracy = rng.uniform(*bounds, size=LABELERS)
    workers = [SimulatedWorker(u.username, float(a), ServiceTransport(u), np.random.default_rng([seed, rep, j]))
               for j, (u, a) in enumerate(zip(people, accuracy))]
    started = time.perf_counter()
    run = run_crowd(batch.pk, workers, lambda item_id: truth[item_id])
    seconds = time.perf_counter() - started
    done = CollectionItem.objects.filter(collection__batch=batch, is_gold=False, status="done")
    labels = dict(Label.objects.filter(concept=concept, source=LabelSource.AGGREGATED,
                                       item_id__in=done.values("item_id")).values_list("item_id", "posterior_yes"))
    answered = sum(done.values_list("n_answers", flat=True))
    p_true = np.array([p if truth[i] else 1.0 - p for i, p in labels.items()])
    wrong = np.array([(p > 0.5) != truth[i] for i, p in labels.items()])
    return RepResult(labels_per_item=answered / max(len(labels), 1), items_labeled=float(len(labels)),
                     error_rate=float(wrong.mean()), mae=float((1.0 - p_true).mean()), seconds=seconds,
                     answers=run.answers)


def engine_side(bounds: tuple[float, float], tau: float, reps: int, seed: int) -> dict[str, np.ndarray]:
    from aggregation.engine import SimulationConfig, simulate

    cfg = SimulationConfig(method="gtx", policy="threshold", n_items=ITEMS, n_labelers=LABELERS, budget=BUDGET,
                           accuracy_range=bounds, tau=tau, kappa=KAPPA, accuracies="assessment",
                           assessment_frac=0.1, repetitions=reps, seed=seed)
    report = simulate(cfg)
    return {k: np.asarray(report.per_rep[k], dtype=float)
            for k in ("labels_per_item", "items_labeled", "error_rate", "mae")}


def interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values))
    half = 1.96 * float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, mean - half, mean + half


def part_a(app_reps: int, engine_reps: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (bounds, tau) in RANGES.items():
        engine = engine_side(bounds, tau, engine_reps, seed)
        runs = []
        for rep in range(app_reps):
            runs.append(app_repetition(bounds, tau, rep, seed))
            print(f"{name}: app repetition {rep + 1}/{app_reps}: {runs[-1].answers} answers in "
                  f"{runs[-1].seconds:.0f} s", file=sys.stderr, flush=True)
        app = {k: np.array([getattr(r, k) for r in runs]) for k in engine}
        rows, cell = [], {}
        for metric in ("labels_per_item", "items_labeled", "error_rate", "mae"):
            a, e = interval(app[metric]), interval(engine[metric])
            agree = a[1] <= e[2] and e[1] <= a[2]
            cell[metric] = {"app": a, "engine": e, "agree": agree}
            digits = 1 if metric == "items_labeled" else 4
            rows.append([metric, f"{a[0]:.{digits}f} [{a[1]:.{digits}f}, {a[2]:.{digits}f}]",
                         f"{e[0]:.{digits}f} [{e[1]:.{digits}f}, {e[2]:.{digits}f}]", "yes" if agree else "NO"])
        answers_per_second = np.mean([r.answers / r.seconds for r in runs])
        print_table(f"(a) {name}, GTX tau={tau}, kappa {KAPPA}, budget {BUDGET}: app ({app_reps} reps, "
                    f"{answers_per_second:.0f} answers/s through the services) vs engine ({engine_reps} reps)",
                    ["metric", "app (95 % interval)", "engine (95 % interval)", "agree"], rows)
        out[name] = cell
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b"], default="a")
    parser.add_argument("--app-reps", type=int, default=6)
    parser.add_argument("--engine-reps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.part == "b":
        from benchmarks.crowd_load import main as load_main

        load_main(sys.argv[1:])
        return
    setup_django(os.environ.get("DATABASE_URL"))
    result = part_a(args.app_reps, args.engine_reps, args.seed)
    if args.json:
        emit_json({"part_a": result})


if __name__ == "__main__":
    main()
