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


class Servers:
    """``processes`` daphne processes accepting on one listening socket (each adopts the
    same file descriptor, as under systemd socket activation; the kernel hands each new
    connection to one of them): one address, the load spread with no balancer between."""

    def __init__(self, env: dict[str, str], processes: int, log_dir: Path) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        fd = self.listener.fileno()
        self.logs = [log_dir / f"server-{processes}-{i}.log" for i in range(processes)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "daphne", "--fd", str(fd), "config.asgi:application"],
                                       cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                       pass_fds=(fd,)) for log in self.logs]
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for proc, log in zip(self.procs, self.logs, strict=True):
                if proc.poll() is not None:
                    self.stop()
                    raise SystemExit(f"a server process exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                    healthy = response.status == 200
            except OSError:
                healthy = False
            if healthy:
                time.sleep(3.0)  # the other processes adopt the socket and load the app too
                if all(proc.poll() is None for proc in self.procs):
                    return
            time.sleep(0.3)
        self.stop()
        raise SystemExit("the servers did not start in 120 s")

    def answers_served(self) -> list[int]:
        """Answers each process served (its access log): the load was spread, or not."""
        return [log.read_bytes().count(b'"POST /api/answers/') for log in self.logs]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.listener.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Crowd loop under load (part b of crowd_live.py)")
    parser.add_argument("--part", default="b")
    parser.add_argument("--workers", type=int, default=200, help="Human-paced workers (default 200).")
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of each run (default 60 s).")
    parser.add_argument("--ceiling-steps", default="8,16,32,64", help="Workers per step of the ceiling run.")
    parser.add_argument("--processes", default="1,2",
                        help="Server process counts to measure side by side, each on one shared socket "
                             "(default 1,2).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        raise SystemExit("Part (b) needs PostgreSQL: set DATABASE_URL=postgres://... (for a throwaway server: "
                         "source scripts/services.sh && services_start, then use $SERVICES_DATABASE_URL).")
    try:
        steps = [int(s) for s in args.ceiling_steps.split(",") if s]
        counts = [int(s) for s in args.processes.split(",") if s]
    except ValueError:
        raise SystemExit("--ceiling-steps and --processes take comma-separated whole numbers") from None
    if not counts or min(counts) < 1 or (steps and min(steps) < 1) or args.workers < 1:
        raise SystemExit("process counts and worker counts must be at least 1")
    scratch = Path(tempfile.mkdtemp(prefix="crowd-load-"))
    database_url, drop = own_database(configured)
    try:
        env = server_env(database_url, scratch)
        world = seed(env, max([args.workers, *steps]))
        load_before = os.getloadavg()[0]
        runs: list[tuple[str, dict[str, Any]]] = []
        floors: dict[int, float] = {}
        spread: dict[int, list[int]] = {}
        for processes in counts:
            servers = Servers(env, processes, scratch)
            try:
                floors[processes] = asyncio.run(floor_ms(servers.url))
                plan = [("human pace", args.workers, True, args.seconds)]
                plan += [("as fast as possible", count, False, args.seconds / 2) for count in steps]
                for name, count, think, seconds in plan:
                    result = asyncio.run(measured(servers.url, world["tokens"][:count], world["batch"],
                                                  world["truth"], think, seconds, database_url))
                    runs.append((name, {"processes": processes, **result}))
            finally:
                servers.stop()
            spread[processes] = servers.answers_served()
        load_after = os.getloadavg()[0]
        stored, doubled = stored_client_ids(database_url)
        acknowledged = {cid for _, run in runs for cid in run.pop("_acknowledged")}
        lost = len(acknowledged - stored)
        rows = [[name, r["processes"], r["workers"], f"{r['answers_per_second']:.1f}", f"{r['next_p50']:.1f}",
                 f"{r['next_p95']:.1f}", f"{r['answer_p50']:.1f}", f"{r['answer_p95']:.1f}",
                 f"{r['next_client_p95']:.0f} / {r['answer_client_p95']:.0f}", r["server_errors"],
                 r["max_connections"]] for name, r in runs]
        redis = "Redis channel layer" if os.environ.get("REDIS_URL") else "in-memory channel layer"
        print_table(f"(b) crowd load over HTTP: daphne processes on one socket, PostgreSQL, {redis}, {cpu_name()} "
                    f"(servers, PostgreSQL and clients share it); server time from Server-Timing, ms; load average "
                    f"{load_before:.1f} before, {load_after:.1f} after",
                    ["run", "processes", "workers", "answers/s", "next p50", "next p95", "answer p50", "answer p95",
                     "client p95 next / answer", "5xx", "max DB connections"], rows)
        print("\nFloor (median server time of GET /healthz, one client): "
              + ", ".join(f"{p} process(es) {f:.2f} ms" for p, f in floors.items()) + ". p95 / floor: "
              + "; ".join(f"{name} x{r['workers']} on {r['processes']}: next {r['next_p95'] / floors[r['processes']]:.0f}x, "
                          f"answer {r['answer_p95'] / floors[r['processes']]:.0f}x" for name, r in runs))
        best = {p: max(r["answers_per_second"] for _, r in runs if r["processes"] == p) for p in counts}
        if len(counts) > 1:
            base = best[counts[0]]
            print("Ceiling (most answers/s of any run): " + ", ".join(
                f"{p} process(es) {a:.1f} ({a / base:.2f}x of {counts[0]})" for p, a in best.items()))
        print("Answers served by each process: " + "; ".join(
            f"{p} process(es): {' / '.join(str(n) for n in served)}" for p, served in spread.items()))
        print(f"\nAfter all runs: {len(acknowledged)} answers acknowledged, {lost} lost, {doubled} doubled "
              f"(client ids stored twice), {sum(r['unacknowledged'] for _, r in runs)} never acknowledged.")
        if args.json:
            emit_json({"runs": [{"run": n, **r} for n, r in runs], "lost": lost, "doubled": doubled,
                       "cpu": cpu_name(), "floor_ms": floors, "load": [load_before, load_after]})
    finally:
        drop()


if __name__ == "__main__":
    main()
