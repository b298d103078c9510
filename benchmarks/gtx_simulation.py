"""The GTX study, simulated: where does confidence-threshold re-querying with GTX / SV
spend labels, and how well does uncertainty sampling do with each method?

(a) Confidence threshold. Budget 15,000 labels, 10 labelers, 20,000 items (more than
    the budget can cover). GTX and SV: kappa = 5 and tau in 0.85, 0.86, ..., 0.99;
    MV and WMV: a fixed 1..5 labels per item. 100 repetitions. For each method the
    setting with the least error: labels per item, items labelled, error rate, MAE of
    the confidence. Labelers U(0.8, 1.0) and U(0.6, 0.9).
(b) Uncertainty sampling. 5,000 items, 10 labelers, budget 15,000, 10 repetitions:
    final error and MAE, and error against labels collected.

Both with accuracies estimated from an assessment set (every labeler answers
10% x budget / labelers = 150 gold items; Beta(1,1) posterior mean) and with the true
accuracies. All methods of one cell share the same simulated worlds (common random
numbers), so differences between methods are not sampling noise between worlds.

    ./.venv/bin/python benchmarks/gtx_simulation.py [--reps 100] [--us-reps 10] [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation.engine import SimulationConfig, simulate
from aggregation.engine.simulate import make_worlds
from benchmarks._aggregation_common import emit_json, print_table

RANGES = {"U(0.8, 1.0)": (0.8, 1.0), "U(0.6, 0.9)": (0.6, 0.9)}
SOURCES = {"estimated": "assessment", "true": "true"}
TAUS = [round(0.85 + 0.01 * i, 2) for i in range(15)]


def settings(method: str) -> list[tuple[str, dict[str, Any]]]:
    if method in ("gtx", "sv"):
        return [(f"tau={t:.2f}", {"tau": t, "kappa": 5}) for t in TAUS]
    return [(f"{n} labels", {"tau": 2.0, "kappa": n}) for n in range(1, 6)]


def summary(rep: Any) -> dict[str, float]:
    keys = ("error_rate", "mae", "labels_per_item", "items_labeled", "labels_used")
    out = {k: float(getattr(rep, k)) for k in keys}
    out["error_rate_std"] = float(np.std(rep.per_rep["error_rate"]))
    return out


def threshold_study(reps: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for range_name, bounds in RANGES.items():
        for source_name, source in SOURCES.items():
            base = SimulationConfig(
                n_items=20_000,
                n_labelers=10,
                budget=15_000,
                accuracy_range=bounds,
                accuracies=source,
                repetitions=reps,
                seed=seed,
            )
            worlds = make_worlds(base)
            cell: dict[str, Any] = {}
            for method in ("gtx", "sv", "mv", "wmv"):
                sweep = {
                    name: summary(simulate(replace(base, method=method, **kw), worlds))
                    for name, kw in settings(method)
                }
                best = min(
                    sweep, key=lambda s: (sweep[s]["error_rate"], -sweep[s]["items_labeled"])
                )
                cell[method] = {"best": best, **sweep[best], "sweep": sweep}
            out[f"{range_name}/{source_name}"] = cell
            print(f"threshold {range_name} {source_name} done", file=sys.stderr, flush=True)
    return out


def uncertainty_study(reps: int, seed: int, every: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for range_name, bounds in RANGES.items():
        for source_name, source in SOURCES.items():
            base = SimulationConfig(
                policy="uncertainty",
                n_items=5_000,
                n_labelers=10,
                budget=15_000,
                accuracy_range=bounds,
                accuracies=source,
                repetitions=reps,
                seed=seed,
                curve_every=every,
            )
            worlds = make_worlds(base)
            cell = {}
            for method in ("gtx", "sv", "wmv", "mv"):
                rep = simulate(replace(base, method=method), worlds)
                assert rep.curve is not None
                labels, error, mae = rep.curve
                cell[method] = {
                    **summary(rep),
                    "curve": {
                        "labels": labels.tolist(),
                        "error": error.tolist(),
                        "mae": mae.tolist(),
                    },
                }
            out[f"{range_name}/{source_name}"] = cell
            print(f"uncertainty {range_name} {source_name} done", file=sys.stderr, flush=True)
    return out


def print_threshold(study: dict[str, Any]) -> None:
    for cell_name, cell in study.items():
        rows = [
            [
                m,
                r["best"],
                f"{r['labels_per_item']:.3f}",
                f"{r['items_labeled']:.0f}",
                f"{r['error_rate']:.4f} ± {r['error_rate_std']:.4f}",
                f"{r['mae']:.4f}",
            ]
            for m, r in cell.items()
        ]
        print_table(
            f"(a) Confidence threshold, labelers {cell_name} accuracies: best setting per method",
            ["method", "setting", "labels/item", "items labelled", "error rate (± sd)", "MAE"],
            rows,
        )


def print_uncertainty(study: dict[str, Any]) -> None:
    for cell_name, cell in study.items():
        rows = [
            [m, f"{r['error_rate']:.4f} ± {r['error_rate_std']:.4f}", f"{r['mae']:.4f}"]
            for m, r in cell.items()
        ]
        print_table(
            f"(b) Uncertainty sampling, labelers {cell_name} accuracies: final",
            ["method", "error rate (± sd)", "MAE"],
            rows,
        )
        labels = next(iter(cell.values()))["curve"]["labels"]
        curve_rows = [
            [n] + [f"{cell[m]['curve']['error'][i]:.4f}" for m in cell]
            for i, n in enumerate(labels)
        ]
        print_table(
            f"(b) error vs labels collected, {cell_name}", ["labels"] + list(cell), curve_rows
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=100, help="repetitions of study (a)")
    parser.add_argument("--us-reps", type=int, default=10, help="repetitions of study (b)")
    parser.add_argument("--curve-every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    threshold = threshold_study(args.reps, args.seed)
    uncertainty = uncertainty_study(args.us_reps, args.seed, args.curve_every)
    print_threshold(threshold)
    print_uncertainty(uncertainty)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    if args.json:
        emit_json(
            {
                "threshold": threshold,
                "uncertainty": uncertainty,
                "reps": args.reps,
                "us_reps": args.us_reps,
            }
        )


if __name__ == "__main__":
    main()
