"""(b) The crowd loop under load on PostgreSQL over HTTP (``crowd_live.py --part b``).

A real server (daphne, the project's ASGI app, DEBUG off) on its own PostgreSQL database
(and Redis when REDIS_URL is set) serves one crowd batch of 20,000 items (GTX, tau 0.95,
kappa 3, 50 hidden golds at 10 %) to simulated workers, each an asyncio client with its
own token that loops: "next" -> think -> answer. Two runs:

- human pace: 200 workers thinking U(1, 3) s per task (one answer every ~2 s each, about
  100 answers/s in all), for ``--seconds``;
- ceiling: workers answering as fast as they can (no think time), in steps of more
  workers until answers/s stops rising.

Reported per run: answers/s, p50/p95 of the server's own time for "next" and for
"answer" (its ``Server-Timing`` header) and of the client's round trip, server errors,
and after the run the database check: every acknowledged answer stored exactly once
(0 lost, 0 doubled), and the most connections the server held (pg_stat_activity).
Target: p95 <= 50 ms for next and for answer at 200 human-paced workers.

    DATABASE_URL=postgres://... [REDIS_URL=redis://...] \\
        .venv/bin/python benchmarks/crowd_live.py --part b [--seconds 60] [--json]

(PostgreSQL for a try-out: ``source scripts/services.sh && services_start`` prints one.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._aggregation_common import emit_json, print_table  # noqa: E402

ITEMS, GOLDS = 20_000, 50


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return platform.processor()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def own_database(configured: str) -> tuple[str, Any]:
    import psycopg

    name = f"agile_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(configured, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(configured, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(urlparse(configured)._replace(path=f"/{name}")), drop


def server_env(database_url: str, scratch: Path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "AGILE_VAR_DIR": str(scratch / "var"), "DEBUG": "0",
           "SECRET_KEY": uuid.uuid4().hex * 2, "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
           "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)}
    return env


def seed(env: dict[str, str], workers: int) -> dict[str, Any]:
    """Migrate and make the project, cohort, workers with tokens, gold and the crowd batch
    (``tests.load.crowd_seed``, in a subprocess with the server's settings); returns ids and tokens."""
    settings = {"tau": 0.95, "kappa": 3, "gold_rate": 0.1, "onboarding": 0, "lease_seconds": 600}
    done = subprocess.run([sys.executable, "-m", "tests.load.crowd_seed", "--items", str(ITEMS), "--golds", str(GOLDS),
                           "--workers", str(workers), "--batch", json.dumps(settings)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"seeding the load database failed:\n{done.stderr[-3000:]}")
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    payload["truth"] = {int(k): v for k, v in payload["truth"].items()}
    return dict(payload)


@dataclass
class Stats:
    next_server: list[float] = field(default_factory=list)
    next_client: list[float] = field(default_factory=list)
    answer_server: list[float] = field(default_factory=list)
    answer_client: list[float] = field(default_factory=list)
    server_errors: int = 0
    conflicts: int = 0
    acknowledged: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)


def _server_ms(headers: Any) -> float | None:
    timing = headers.get("Server-Timing", "")
    return float(timing.split("dur=", 1)[1]) if "dur=" in timing else None


async def worker_loop(session: Any, url: str, token: str, batch: int, truth: dict[int, bool], think: bool,
                      stop_at: float, stats: Stats, rng: random.Random) -> None:
    import aiohttp

    headers = {"Authorization": f"Token {token}"}
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        async with session.post(f"{url}/api/crowd/next/", json={"batch": batch, "hold": 1}, headers=headers) as r:
            body = await r.json(content_type=None)
            elapsed = (time.perf_counter() - started) * 1000
            if r.status >= 500:
                stats.server_errors += 1
                continue
            stats.next_client.append(elapsed)
            if (server := _server_ms(r.headers)) is not None:
                stats.next_server.append(server)
        if not body.get("assignments"):
            await asyncio.sleep(1.0)
            continue
        task = body["assignments"][0]
        if think:
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        value = "yes" if truth[int(task["item"])] == (rng.random() < 0.9) else "no"
        client_id = str(uuid.uuid4())
        for _attempt in range(5):  # a failed request is sent again with the same client id
            started = time.perf_counter()
            try:
                async with session.post(f"{url}/api/answers/", headers=headers, json={
                        "assignment": task["id"], "value": value, "client_id": client_id, "seconds": 2.0}) as r:
                    await r.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    if r.status >= 500:
                        stats.server_errors += 1
                        continue
                    stats.answer_client.append(elapsed)
                    if (server := _server_ms(r.headers)) is not None:
                        stats.answer_server.append(server)
                    if r.status == 201:
                        stats.acknowledged.append(client_id)
                    elif r.status == 409:
                        stats.conflicts += 1
                    break
            except (TimeoutError, aiohttp.ClientError):
                continue
        else:
            stats.unacknowledged.append(client_id)


async def floor_ms(url: str, requests: int = 50) -> float:
    """This machine's floor for a request: the median server time of ``GET /healthz`` from
    one client, on the same server, just before the runs."""
    import aiohttp

    times: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            async with session.get(f"{url}/healthz") as response:
                await response.read()
                ms = _server_ms(response.headers)
                if ms is not None:
                    times.append(ms)
    return pct(times, 50) if times else float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_load(url: str, tokens: list[str], batch: int, truth: dict[int, bool], think: bool,
                   seconds: float) -> tuple[Stats, float]:
    import aiohttp

    stats = Stats()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(worker_loop(session, url, token, batch, truth, think, stop_at, stats,
                                           random.Random(i)) for i, token in enumerate(tokens)))
        return stats, time.perf_counter() - started


def connections_now(database_url: str) -> int:
    import psycopg

    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) - 1 if row else 0  # less this probe's own connection


async def sample_connections(database_url: str, stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak.append(await asyncio.to_thread(connections_now, database_url))
        await asyncio.sleep(0.5)


def stored_client_ids(database_url: str) -> tuple[set[str], int]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT client_id::text FROM labeling_answer").fetchall()
    ids = [r[0] for r in rows]
    return set(ids), len(ids) - len(set(ids))


async def measured(url: str, tokens: list[str], batch: int, truth: dict[int, bool], think: bool, seconds: float,
                   database_url: str) -> dict[str, Any]:
    stop, peak = asyncio.Event(), [0]
    sampler = asyncio.create_task(sample_connections(database_url, stop, peak))
    stats, elapsed = await run_load(url, tokens, batch, truth, think, seconds)
    stop.set()
    await sampler
    return {"workers": len(tokens), "answers": len(stats.acknowledged),
            "answers_per_second": len(stats.acknowledged) / elapsed,
            "next_p50": pct(stats.next_server, 0.5), "next_p95": pct(stats.next_server, 0.95),
            "answer_p50": pct(stats.answer_server, 0.5), "answer_p95": pct(stats.answer_server, 0.95),
            "next_client_p95": pct(stats.next_client, 0.95), "answer_client_p95": pct(stats.answer_client, 0.95),
            "server_errors": stats.server_errors, "conflicts": stats.conflicts,
            "unacknowledged": len(stats.unacknowledged), "max_connections": max(peak),
            "_acknowledged": stats.acknowledged}


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "config.asgi:application"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    import urllib.request

    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the server did not start in 120 s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Crowd loop under load (part b of crowd_live.py)")
    parser.add_argument("--part", default="b")
    parser.add_argument("--workers", type=int, default=200, help="Human-paced workers (default 200).")
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of each run (default 60 s).")
    parser.add_argument("--ceiling-steps", default="8,16,32,64", help="Workers per step of the ceiling run.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        raise SystemExit("Part (b) needs PostgreSQL: set DATABASE_URL=postgres://... (for a throwaway server: "
                         "source scripts/services.sh && services_start, then use $SERVICES_DATABASE_URL).")
    steps = [int(s) for s in args.ceiling_steps.split(",") if s]
    scratch = Path(tempfile.mkdtemp(prefix="crowd-load-"))
    database_url, drop = own_database(configured)
    try:
        env = server_env(database_url, scratch)
        world = seed(env, max([args.workers, *steps]))
        port = free_port()
        server = start_server(env, port, scratch / "server.log")
        url = f"http://127.0.0.1:{port}"
        try:
            load_before = os.getloadavg()[0]
            floor = asyncio.run(floor_ms(url))
            runs = [("human pace", asyncio.run(measured(url, world["tokens"][:args.workers], world["batch"],
                                                         world["truth"], True, args.seconds, database_url)))]
            for count in steps:
                runs.append(("as fast as possible", asyncio.run(measured(
                    url, world["tokens"][:count], world["batch"], world["truth"], False, args.seconds / 2,
                    database_url))))
        finally:
            server.terminate()
            server.wait(timeout=30)
        load_after = os.getloadavg()[0]
        stored, doubled = stored_client_ids(database_url)
        acknowledged = {cid for _, run in runs for cid in run.pop("_acknowledged")}
        lost = len(acknowledged - stored)
        rows = [[name, r["workers"], f"{r['answers_per_second']:.1f}", f"{r['next_p50']:.1f}", f"{r['next_p95']:.1f}",
                 f"{r['answer_p50']:.1f}", f"{r['answer_p95']:.1f}", f"{r['next_client_p95']:.0f} / "
                 f"{r['answer_client_p95']:.0f}", r["server_errors"], r["max_connections"]] for name, r in runs]
        redis = "Redis channel layer" if os.environ.get("REDIS_URL") else "in-memory channel layer"
        print_table(f"(b) crowd load over HTTP: one daphne process, PostgreSQL, {redis}, {cpu_name()} (server, "
                    f"PostgreSQL and clients share it); server time from Server-Timing, ms; load average "
                    f"{load_before:.1f} before, {load_after:.1f} after",
                    ["run", "workers", "answers/s", "next p50", "next p95", "answer p50", "answer p95",
                     "client p95 next / answer", "5xx", "max DB connections"], rows)
        print(f"\nFloor (median server time of GET /healthz, one client, same server): {floor:.2f} ms. "
              "p95 / floor: " + "; ".join(f"{name} x{r['workers']}: next {r['next_p95'] / floor:.0f}x, "
                                          f"answer {r['answer_p95'] / floor:.0f}x" for name, r in runs))
        print(f"\nAfter all runs: {len(acknowledged)} answers acknowledged, {lost} lost, {doubled} doubled "
              f"(client ids stored twice), {sum(r['unacknowledged'] for _, r in runs)} never acknowledged.")
        if args.json:
            emit_json({"runs": [{"run": n, **r} for n, r in runs], "lost": lost, "doubled": doubled,
                       "cpu": cpu_name(), "floor_ms": floor, "load": [load_before, load_after]})
    finally:
        drop()


if __name__ == "__main__":
    main()
