"""Every aggregation method on every dataset in ../shared/data/crowd, side by side with
crowd-kit 1.4.2 in the same run: accuracy on the gold tasks and wall time.

Part 1, unassisted: methods see the answers only (wmv/sv/gtx then take worker
accuracies from one-coin EM, the engine's documented fallback).
Part 2, gold-assisted: a random 20% of the gold tasks is revealed as the assessment set
(wmv/sv/gtx compute accuracies from it, EM methods clamp it; crowd-kit's DawidSkene
gets it as ``true_labels``, GoldMajorityVote fits skills on it); accuracy on the other
80%, mean and std over 20 seeds.

Part 3, sparse subsamples: every task keeps ``--sparse`` random answers (default 3, as in
crowdsourced sets with ~3 answers per task), ``--sparse-reps`` times; our default and
plain maximum-likelihood Dawid-Skene against crowd-kit's DawidSkene and MajorityVote.

Targets: per dataset, our default (``DEFAULT_METHOD``) >= crowd-kit's best, our best
method >= crowd-kit's best, and our Dawid-Skene >= crowd-kit's DawidSkene.

    ./.venv/bin/python benchmarks/aggregation_real.py [--seeds 20] [--skip-slow] [--json]
    ./.venv/bin/python benchmarks/aggregation_real.py --answers A.csv [--gold G.csv]  # any CSV

``--answers`` runs parts 1 and 3 on one ``task,worker,label`` file (any spelling of
labels; "Don't know"/"Broken image" answers are not votes); with ``--gold`` (``task,label``)
it reports accuracy, without it the agreement of every method with our default.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation.engine import DEFAULT_METHOD, aggregate, read_answers_csv, read_labels_csv
from aggregation.engine.dawid_skene import dawid_skene
from aggregation.engine.types import Answers
from benchmarks._aggregation_common import CROWD, emit_json, patch_crowdkit, print_table, timed

OURS = ["mv", "wmv", "sv", "gtx", "one-coin", "dawid-skene", "ibcc"]
# dawid-skene is our default (DEFAULT_METHOD): MAP with half an answer on each diagonal.
# The two extra rows: maximum likelihood (the previous default) and crowd-kit's stopping rule.
CK_FAST = ["MajorityVote", "Wawa", "OneCoinDawidSkene", "DawidSkene"]
CK_SLOW = ["GLAD", "MACE"]


@dataclass
class Dataset:
    name: str
    answers: Any  # engine Answers
    gold: np.ndarray  # (n_tasks,) class code or -1
    task_ids: tuple[str, ...]
    classes: tuple[str, ...]
    frame: pd.DataFrame  # crowd-kit input: task, worker, label as strings
    gold_series: pd.Series  # crowd-kit gold: label by task


def load(folder: Path) -> Dataset:
    return load_csv(folder.name, folder / "answers.csv", folder / "gold.csv")


def load_csv(name: str, answers: Path, gold: Path | None) -> Dataset:
    """One dataset from a ``task,worker,label`` CSV and an optional ``task,label`` gold CSV.
    Without gold, the "gold" is our default's labels, so accuracy reads as agreement."""
    gold_labels = read_labels_csv(gold) if gold is not None else {}
    enc = read_answers_csv(answers, classes=set(gold_labels.values()))
    frame = enc_frame(enc)
    if gold is None:
        labels = aggregate(DEFAULT_METHOD, enc.answers).labels
        gold_labels = {enc.task_ids[t]: enc.classes[c] for t, c in enumerate(labels)}
    gold_series = pd.Series(gold_labels, name="label").rename_axis("task")
    return Dataset(name, enc.answers, enc.gold_vector(gold_labels), enc.task_ids, enc.classes, frame, gold_series)


def enc_frame(enc: Any) -> pd.DataFrame:
    """crowd-kit's input for exactly the votes our engine counts (task, worker, label as
    the input spells them; "Don't know" / "Broken image" answers dropped, as we drop them)."""
    a = enc.answers
    return pd.DataFrame(
        {
            "task": np.asarray(enc.task_ids, dtype=object)[a.tasks],
            "worker": np.asarray(enc.worker_ids, dtype=object)[a.workers],
            "label": np.asarray(enc.classes, dtype=object)[a.labels],
        }
    )


def crowdkit_models() -> dict[str, Any]:
    from crowdkit.aggregation import (
        GLAD,
        MACE,
        DawidSkene,
        MajorityVote,
        OneCoinDawidSkene,
        Wawa,
    )

    return {
        "MajorityVote": MajorityVote,
        "Wawa": Wawa,
        "OneCoinDawidSkene": OneCoinDawidSkene,
        "DawidSkene": DawidSkene,
        "GLAD": GLAD,
        "MACE": MACE,
    }


def our_accuracy(labels: np.ndarray, gold: np.ndarray, mask: np.ndarray | None = None) -> float:
    keep = gold >= 0 if mask is None else mask
    return float(np.mean(labels[keep] == gold[keep]))


def ck_accuracy(labels: pd.Series, gold: pd.Series) -> float:
    return float((labels.reindex(gold.index).astype(str) == gold).mean())


def unassisted(ds: Dataset, ck_names: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for method in OURS:
        res, sec = timed(lambda m=method: aggregate(m, ds.answers))
        out[f"ours:{method}"] = {"accuracy": our_accuracy(res.labels, ds.gold), "seconds": sec}
    res, sec = timed(lambda: dawid_skene(ds.answers, diagonal_prior=0.0))
    out["ours:dawid-skene(ml)"] = {"accuracy": our_accuracy(res.labels, ds.gold), "seconds": sec}
    res, sec = timed(lambda: dawid_skene(ds.answers, stopping="crowdkit", diagonal_prior=0.0))
    out["ours:dawid-skene(ml, crowdkit-stop)"] = {
        "accuracy": our_accuracy(res.labels, ds.gold),
        "seconds": sec,
    }
    models = crowdkit_models()
    for name in ck_names:
        labels, sec = timed(lambda n=name: models[n]().fit_predict(ds.frame))
        out[f"crowdkit:{name}"] = {"accuracy": ck_accuracy(labels, ds.gold_series), "seconds": sec}
    return out


def assisted(ds: Dataset, seeds: int, frac: float) -> dict[str, dict[str, float]]:
    from crowdkit.aggregation import DawidSkene, MajorityVote

    known = np.flatnonzero(ds.gold >= 0)
    scores: dict[str, list[float]] = {}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        reveal = rng.choice(known, size=round(frac * known.size), replace=False)
        assess = np.full_like(ds.gold, -1)
        assess[reveal] = ds.gold[reveal]
        score_mask = (ds.gold >= 0) & (assess < 0)
        for method in OURS:
            res = aggregate(method, ds.answers, gold=assess, seed=seed)
            scores.setdefault(f"ours:{method}", []).append(
                our_accuracy(res.labels, ds.gold, score_mask)
            )
        revealed_ids = [ds.task_ids[i] for i in reveal]
        true_labels = ds.gold_series.loc[revealed_ids]
        held_out = ds.gold_series.drop(index=revealed_ids)
        ck = {
            "crowdkit:MajorityVote": MajorityVote().fit_predict(ds.frame),
            "crowdkit:DawidSkene(true_labels)": DawidSkene().fit_predict(ds.frame, true_labels),
            "crowdkit:GoldMajorityVote": gold_mv(ds.frame, true_labels),
        }
        for name, labels in ck.items():
            scores.setdefault(name, []).append(ck_accuracy(labels, held_out))
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in scores.items()}


def sparse(ds: Dataset, per_task: int, reps: int) -> dict[str, Any]:
    """Accuracy when every task keeps ``per_task`` random answers, over ``reps`` draws:
    our default, our maximum-likelihood DS, crowd-kit's DawidSkene and MajorityVote."""
    from crowdkit.aggregation import DawidSkene, MajorityVote

    scores: dict[str, list[float]] = {}
    for rep in range(reps):
        keep = keep_per_task(ds.answers, per_task, np.random.default_rng(rep))
        sub = Answers.from_arrays(
            ds.answers.tasks[keep], ds.answers.workers[keep], ds.answers.labels[keep],
            n_tasks=ds.answers.n_tasks, n_workers=ds.answers.n_workers, n_classes=ds.answers.n_classes,
        )
        frame = pd.DataFrame(
            {
                "task": np.asarray(ds.task_ids, dtype=object)[sub.tasks],
                "worker": sub.workers.astype(str),
                "label": np.asarray(ds.classes, dtype=object)[sub.labels],
            }
        )
        runs = {
            f"ours:{DEFAULT_METHOD}": our_accuracy(aggregate(DEFAULT_METHOD, sub).labels, ds.gold),
            "ours:dawid-skene(ml)": our_accuracy(dawid_skene(sub, diagonal_prior=0.0).labels, ds.gold),
            "crowdkit:DawidSkene": ck_accuracy(DawidSkene().fit_predict(frame), ds.gold_series),
            "crowdkit:MajorityVote": ck_accuracy(MajorityVote().fit_predict(frame), ds.gold_series),
        }
        for name, value in runs.items():
            scores.setdefault(name, []).append(value)
    ck = np.asarray(scores["crowdkit:DawidSkene"])
    return {
        name: {
            "mean": float(np.mean(v)),
            "at_least_crowdkit_ds": int(np.sum(np.asarray(v) >= ck - 1e-12)),
            "reps": reps,
        }
        for name, v in scores.items()
    }


def keep_per_task(answers: Answers, per_task: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_task`` random answers of every task (all of a task with fewer)."""
    order = rng.permutation(answers.n_answers)
    order = order[np.argsort(answers.tasks[order], kind="stable")]
    tasks = answers.tasks[order]
    starts = np.r_[0, np.flatnonzero(np.diff(tasks)) + 1]
    rank = np.arange(len(tasks)) - np.repeat(starts, np.diff(np.r_[starts, len(tasks)]))
    keep: np.ndarray = np.sort(order[rank < per_task])
    return keep


def gold_mv(frame: pd.DataFrame, true_labels: pd.Series) -> pd.Series:
    """crowd-kit's GoldMajorityVote, except that workers without a gold answer get the
    mean skill (its own ``predict`` refuses them: "Skill value is missing")."""
    from crowdkit.aggregation import GoldMajorityVote, MajorityVote

    skills = GoldMajorityVote().fit(frame, true_labels).skills_
    mv = MajorityVote(on_missing_skill="value", default_skill=float(skills.mean()))
    return mv.fit_predict(frame, skills)


def targets(results: dict[str, dict[str, float]]) -> dict[str, Any]:
    ours = {
        k: v["accuracy"]
        for k, v in results.items()
        if k.startswith("ours:") and "(" not in k
    }
    ck = {k: v["accuracy"] for k, v in results.items() if k.startswith("crowdkit:")}
    best_ours, best_ck = (
        max(ours.items(), key=lambda kv: kv[1]),
        max(ck.items(), key=lambda kv: kv[1]),
    )
    ds_ours, ds_ck = ours["ours:dawid-skene"], ck["crowdkit:DawidSkene"]
    default = ours[f"ours:{DEFAULT_METHOD}"]
    return {
        "default": default,
        "default_met": default >= best_ck[1],
        "best_ours": best_ours,
        "best_crowdkit": best_ck,
        "best_met": best_ours[1] >= best_ck[1],
        "ds_ours": ds_ours,
        "ds_crowdkit": ds_ck,
        "ds_met": ds_ours >= ds_ck,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=CROWD, help="folder of <name>/answers.csv + gold.csv")
    parser.add_argument("--answers", type=Path, help="one task,worker,label CSV instead of --data")
    parser.add_argument("--gold", type=Path, help="task,label CSV for --answers (else: agreement with our default)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--frac", type=float, default=0.2)
    parser.add_argument("--sparse", type=int, default=3, help="answers kept per task in part 3 (0: skip)")
    parser.add_argument("--sparse-reps", type=int, default=20)
    parser.add_argument("--skip-slow", action="store_true", help="skip crowd-kit GLAD and MACE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    patch_crowdkit()
    if args.answers is not None:
        if not args.answers.is_file():
            raise SystemExit(f"--answers {args.answers}: no such file")
        datasets = [load_csv(args.answers.stem, args.answers, args.gold)]
    else:
        datasets = [load(p) for p in sorted(args.data.iterdir()) if (p / "answers.csv").is_file()]
    with_gold = args.answers is None or args.gold is not None
    ck_names = CK_FAST + ([] if args.skip_slow else CK_SLOW)
    report: dict[str, Any] = {"unassisted": {}, "assisted": {}, "targets": {}, "ties": {}, "sparse": {}}
    for ds in datasets:
        report["unassisted"][ds.name] = unassisted(ds, ck_names)
        report["targets"][ds.name] = targets(report["unassisted"][ds.name])
        counts = np.bincount(
            ds.answers.cells(), minlength=ds.answers.n_tasks * ds.answers.n_classes
        )
        counts = counts.reshape(ds.answers.n_tasks, -1)
        report["ties"][ds.name] = int(((counts == counts.max(1, keepdims=True)).sum(1) > 1).sum())
        if with_gold and args.seeds > 0:
            report["assisted"][ds.name] = assisted(ds, args.seeds, args.frac)
        if args.sparse > 0:
            report["sparse"][ds.name] = sparse(ds, args.sparse, args.sparse_reps)
        print(f"done {ds.name}", file=sys.stderr, flush=True)
    folders = datasets
    names = [d.name for d in folders]
    methods = list(report["unassisted"][names[0]])
    print_table(
        "Unassisted: accuracy on gold (time, s)",
        ["method"] + names,
        [
            [m]
            + [
                f"{report['unassisted'][n][m]['accuracy']:.4f} ({report['unassisted'][n][m]['seconds']:.3f})"
                for n in names
            ]
            for m in methods
        ],
    )
    print_table(
        "Targets" + ("" if with_gold else " (no gold: 'accuracy' is agreement with our default)"),
        [
            "dataset",
            f"our default ({DEFAULT_METHOD})",
            "met",
            "our best",
            "crowd-kit best",
            "met",
            "our DS",
            "crowd-kit DS",
            "met",
            "MV ties",
        ],
        [
            [
                n,
                f"{t['default']:.4f}",
                "yes" if t["default_met"] else "NO",
                f"{t['best_ours'][0][5:]} {t['best_ours'][1]:.4f}",
                f"{t['best_crowdkit'][0][9:]} {t['best_crowdkit'][1]:.4f}",
                "yes" if t["best_met"] else "NO",
                f"{t['ds_ours']:.4f}",
                f"{t['ds_crowdkit']:.4f}",
                "yes" if t["ds_met"] else "NO",
                report["ties"][n],
            ]
            for n, t in report["targets"].items()
        ],
    )
    if report["sparse"]:
        s_methods = list(report["sparse"][names[0]])
        print_table(
            f"Sparse: {args.sparse} random answers kept per task, {args.sparse_reps} draws: mean accuracy"
            " (draws at least crowd-kit DawidSkene's)",
            ["method"] + names,
            [
                [m]
                + [
                    f"{report['sparse'][n][m]['mean']:.4f} ({report['sparse'][n][m]['at_least_crowdkit_ds']}"
                    f"/{report['sparse'][n][m]['reps']})"
                    for n in names
                ]
                for m in s_methods
            ],
        )
    if not report["assisted"]:
        if args.json:
            emit_json(report)
        return
    a_methods = list(report["assisted"][names[0]])
    print_table(
        f"Gold-assisted: {args.frac:.0%} of gold revealed as assessment, accuracy on the rest "
        f"(mean ± std over {args.seeds} seeds)",
        ["method"] + names,
        [
            [m]
            + [
                f"{report['assisted'][n][m]['mean']:.4f} ± {report['assisted'][n][m]['std']:.4f}"
                for n in names
            ]
            for m in a_methods
        ],
    )
    if args.json:
        emit_json(report)


if __name__ == "__main__":
    main()
