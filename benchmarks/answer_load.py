"""Answer submission under load: answers per second and latency (p50, p95) against a real
daphne server on PostgreSQL, for several connection-pool sizes, side by side in one run.

For each pool setting (``DATABASE_POOL_SIZE``; 0 = no pool, a connection per request
closed at its end) one server process is started on a fresh database of the PostgreSQL
server of ``DATABASE_URL`` (loopback). Then, for each number of concurrent clients, every
client submits its share of ``--answers`` answers over a keep-alive connection
(``POST /api/answers/`` with a token, as the crowd page does), ``--repeats`` times. Peak
connections of the server are sampled from pg_stat_activity every 20 ms.

The floor is this machine's cheapest request through the same stack: the median latency
of ``GET /healthz`` (one ``SELECT 1``) from one client; latencies are also given as
multiples of it. Figures are medians over the repeats. Run it alone:

    flock /tmp/agile-timing.lock .venv/bin/python benchmarks/answer_load.py [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.load.harness import ConnectionSampler, Server, database_for, run_clients, seed, server_env


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def healthz_floor(port: int, requests: int = 200) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        times.append(time.perf_counter() - started)
    connection.close()
    return statistics.median(times)


def one_run(server: Server, workers: list[dict[str, Any]], database: str) -> dict[str, Any]:
    with ConnectionSampler(database) as sampler:
        started = time.perf_counter()
        outcome, _ = run_clients(server.port, workers, seconds=300)
        elapsed = time.perf_counter() - started
    return {"answers_per_s": len(outcome.acked) / elapsed, "p50_ms": 1000 * percentile(outcome.latencies, 0.5),
            "p95_ms": 1000 * percentile(outcome.latencies, 0.95), "errors_5xx": outcome.server_errors,
            "peak_connections": sampler.max_total, "acked": len(outcome.acked)}


def measure(pool: int, levels: list[int], answers: int, repeats: int, database_url: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="answer-load-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["DATABASE_URL"] = database_url
        database, drop = database_for(tmp)
        try:
            env = server_env(tmp, database, pool)
            per_client = {c: max(1, answers // c) for c in levels}
            # Worker i answers in every run with more than i clients: fresh assignments each time.
            needed = [repeats * sum(per_client[c] for c in levels if i < c) for i in range(max(levels))]
            world = seed(env, max(levels), needed)
            server = Server(env, tmp / "server.log")
            server.start()
            rows, used = [], [0] * max(levels)
            try:
                floor = healthz_floor(server.port)
                for clients in levels:
                    results = []
                    for _ in range(repeats):
                        k = per_client[clients]
                        workers = []
                        for i, full in enumerate(world["workers"][:clients]):
                            workers.append({"token": full["token"], "assignments": full["assignments"][used[i]:used[i] + k]})
                            used[i] += k
                        results.append(one_run(server, workers, database))
                    rows.append({"pool": pool, "clients": clients, "answers": clients * per_client[clients],
                                 "floor_ms": 1000 * floor, **median_of(results)})
            finally:
                server.stop()
        finally:
            drop()
    return rows


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("answers_per_s", "p50_ms", "p95_ms")
    merged: dict[str, Any] = {k: statistics.median(r[k] for r in results) for k in keys}
    merged["errors_5xx"] = sum(r["errors_5xx"] for r in results)
    merged["peak_connections"] = max(r["peak_connections"] for r in results)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default="0,4,10", help="pool sizes to compare, comma-separated (0 = no pool)")
    parser.add_argument("--clients", default="1,20,200", help="concurrent clients, comma-separated")
    parser.add_argument("--answers", type=int, default=400, help="answers per run (split among the clients)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (medians are reported)")
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL", ""),
                        help="PostgreSQL server (postgres://…/any); a fresh database is made on it per setting")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if not args.database.startswith("postgres"):
        parser.error("needs a PostgreSQL server: --database postgres://… or DATABASE_URL "
                     "(source scripts/services.sh && services_start gives a throwaway one)")
    pools = [int(p) for p in args.pools.split(",")]
    levels = [int(c) for c in args.clients.split(",")]
    rows = []
    for pool in pools:
        rows.extend(measure(pool, levels, args.answers, args.repeats, args.database))
        print(f"  measured DATABASE_POOL_SIZE={pool}", file=sys.stderr, flush=True)
    print(f"CPU: {cpu_name()}; medians of {args.repeats} runs; floor = GET /healthz p50 from one client")
    print("| pool | clients | answers/s | p50 ms | p95 ms | p50 / floor | 5xx | peak connections |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        pool = "none" if row["pool"] == 0 else row["pool"]
        print(f"| {pool} | {row['clients']} | {row['answers_per_s']:.0f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} "
              f"| {row['p50_ms'] / row['floor_ms']:.1f}x | {row['errors_5xx']} | {row['peak_connections']} |")
    if args.json:
        print(json.dumps({"cpu": cpu_name(), "repeats": args.repeats, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
