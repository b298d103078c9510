"""Aggregation at scale: 1M tasks x 5 answers (5M answers) and 2M tasks x 5 answers
(10M answers), 1,000 workers, binary labels; ours vs crowd-kit 1.4.2 in one run.

Every (implementation, method, size) runs in a fresh subprocess that generates the
same synthetic data from the same seed (workers with accuracies U(0.6, 0.95), 5
distinct workers per task), builds its native input (three int64 arrays for ours, a
pandas DataFrame of the same ints for crowd-kit), then times the method alone. Peak
memory is the kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs
just before the call) minus the RSS just before the call: what the method itself
allocates on top of its input; the process's absolute ru_maxrss is reported too. Each
run calls the method ``--repeat`` times (default 3) and keeps the best time and the
largest peak, because the machine may be shared. A crowd-kit run that
exceeds ``--budget`` seconds is killed and reported as "did not finish within X s".

Targets: >= 10x faster than crowd-kit at equal accuracy, <= 1/3 of its peak memory;
MV and GTX under 1 s for 10M answers.

    ./.venv/bin/python benchmarks/aggregation_scale.py [--sizes 1000000,2000000] [--budget 600] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._aggregation_common import emit_json, peak_rss, print_table

N_WORKERS = 1000
PER_TASK = 5
# (our method, crowd-kit counterpart or None)
PAIRS = [
    ("mv", "MajorityVote"),
    ("wmv", "MajorityVote(skills)"),
    ("gtx", None),
    ("one-coin", "OneCoinDawidSkene"),
    ("dawid-skene", "DawidSkene"),
    ("ibcc", None),
]


def generate(n_tasks: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(tasks, workers, labels, truth, accuracies), 5 distinct workers per task."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.6, 0.95, N_WORKERS)
    truth = rng.integers(0, 2, n_tasks)
    workers = rng.integers(0, N_WORKERS, (n_tasks, PER_TASK))
    while True:  # redraw the rows that picked someone twice
        srt = np.sort(workers, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if not dup.any():
            break
        workers[dup] = rng.integers(0, N_WORKERS, (int(dup.sum()), PER_TASK))
    tasks = np.repeat(np.arange(n_tasks), PER_TASK)
    workers = workers.ravel()
    right = rng.random(tasks.size) < acc[workers]
    labels = np.where(right, truth[tasks], 1 - truth[tasks])
    return tasks, workers, labels, truth, acc


def measure(call: Any, repeat: int) -> tuple[Any, float, float]:
    """(result, best seconds, largest peak MB above the entry RSS) over ``repeat`` calls."""
    best, peak, out = float("inf"), 0.0, None
    for _ in range(repeat):
        out = None  # drop the previous result before measuring again
        with peak_rss() as mem:
            start = time.perf_counter()
            out = call()
            seconds = time.perf_counter() - start
        best = min(best, seconds)
        peak = max(peak, (mem["peak"] - mem["before"]) / 2**20)
    return out, best, peak


def run_ours(
    method: str,
    tasks: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    acc: np.ndarray,
    repeat: int,
) -> tuple[np.ndarray, float, float]:
    from aggregation.engine import Answers, aggregate

    answers = Answers.from_arrays(tasks, workers, labels, n_workers=N_WORKERS, n_classes=2)
    kwargs = {"accuracies": acc} if method in ("wmv", "gtx") else {}
    aggregate(
        method,
        Answers.from_arrays([0, 0], [0, 1], [0, 1]),
        **({"accuracies": np.array([0.7, 0.7])} if kwargs else {}),
    )  # warm imports
    result, seconds, peak = measure(lambda: aggregate(method, answers, **kwargs), repeat)
    return result.labels, seconds, peak


def run_crowdkit(
    name: str,
    tasks: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    acc: np.ndarray,
    repeat: int,
) -> tuple[np.ndarray, float, float]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene

    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
    skills = pd.Series(acc, index=pd.RangeIndex(N_WORKERS, name="worker"))
    models: dict[str, Any] = {
        "MajorityVote": lambda: MajorityVote().fit_predict(frame),
        "MajorityVote(skills)": lambda: MajorityVote().fit_predict(frame, skills),
        "OneCoinDawidSkene": lambda: OneCoinDawidSkene().fit_predict(frame),
        "DawidSkene": lambda: DawidSkene().fit_predict(frame),
    }
    MajorityVote().fit_predict(frame.head(10))  # warm imports
    out, seconds, peak = measure(models[name], repeat)
    return out.sort_index().to_numpy(), seconds, peak


def child(impl: str, method: str, n_tasks: int, repeat: int) -> None:
    warnings.filterwarnings("ignore")
    tasks, workers, labels, truth, acc = generate(n_tasks)
    runner = run_ours if impl == "ours" else run_crowdkit
    predicted, seconds, peak = runner(method, tasks, workers, labels, acc, repeat)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "accuracy": float(np.mean(predicted == truth)),
                "peak_delta_mb": peak,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def spawn(impl: str, method: str, n_tasks: int, budget: float, repeat: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", impl, method, str(n_tasks), str(repeat)]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish within {budget:.0f} s"}
    if proc.returncode != 0:
        return {"status": "failed: " + proc.stderr.strip().splitlines()[-1][:120]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["status"] = "ok"
    return out


def fmt(r: dict[str, Any] | None, key: str, spec: str) -> str:
    """A cell; a run that did not finish shows its status in the seconds column only."""
    if r is None:
        return "-"
    if r.get("status") != "ok":
        return r["status"] if key == "seconds" else "-"
    return format(r[key], spec)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,2000000", help="numbers of tasks (x5 answers)")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per crowd-kit run")
    parser.add_argument("--ours-budget", type=float, default=600.0)
    parser.add_argument("--methods", default=",".join(m for m, _ in PAIRS))
    parser.add_argument("--repeat", type=int, default=3, help="calls per run; best time kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    chosen = set(args.methods.split(","))
    report: dict[str, Any] = {}
    rows = []
    for n_tasks in (int(s) for s in args.sizes.split(",")):
        size = f"{n_tasks * PER_TASK / 1e6:g}M answers"
        for ours_name, ck_name in PAIRS:
            if ours_name not in chosen:
                continue
            ours = spawn("ours", ours_name, n_tasks, args.ours_budget, args.repeat)
            ck = spawn("crowdkit", ck_name, n_tasks, args.budget, args.repeat) if ck_name else None
            print(f"{size} {ours_name}: ours {ours} crowd-kit {ck}", file=sys.stderr, flush=True)
            report[f"{size}/{ours_name}"] = {
                "ours": ours,
                "crowdkit": ck,
                "crowdkit_method": ck_name,
            }
            both = ck is not None and ck.get("status") == "ok" and ours.get("status") == "ok"
            speedup = f"{ck['seconds'] / ours['seconds']:.0f}x" if both else "-"
            mem = f"{ours['peak_delta_mb'] / max(ck['peak_delta_mb'], 1e-9):.2f}" if both else "-"
            rows.append(
                [
                    size,
                    ours_name,
                    ck_name or "-",
                    fmt(ours, "seconds", ".3f"),
                    fmt(ck, "seconds", ".2f"),
                    speedup,
                    fmt(ours, "peak_delta_mb", ".0f"),
                    fmt(ck, "peak_delta_mb", ".0f"),
                    mem,
                    fmt(ours, "accuracy", ".4f"),
                    fmt(ck, "accuracy", ".4f"),
                ]
            )
    print_table(
        "Scale: time and peak memory (MB allocated during the call, baseline-subtracted)",
        [
            "size",
            "ours",
            "crowd-kit",
            "ours s",
            "crowd-kit s",
            "speed-up",
            "ours MB",
            "crowd-kit MB",
            "mem ratio",
            "ours acc",
            "crowd-kit acc",
        ],
        rows,
    )
    load = (load_before, os.getloadavg())
    print(
        f"\nbest of {args.repeat} calls per run; 1-min load average {load[0][0]:.1f} at start, "
        f"{load[1][0]:.1f} at end on {os.cpu_count()} CPUs"
    )
    if args.json:
        report["_meta"] = {
            "repeat": args.repeat,
            "loadavg_start": load[0],
            "loadavg_end": load[1],
            "cpus": os.cpu_count(),
        }
        emit_json(report)


if __name__ == "__main__":
    main()
