"""Two web processes serve one project (PostgreSQL + the Redis channel layer).

Two real daphne processes (DEBUG off, in-process jobs) share a database of their own and
Redis. On each: the expert's project stream (``/ws/projects/<id>/``) and a worker's work
stream (``/ws/work/``). The crowd batch is created through the API of process B; 8
simulated workers, half on each process, lease two tasks at a time and answer them
concurrently (uncertainty sampling, kappa 3, overlap 3: every item wants exactly three
answers from three workers, up to three at once); a third of the answers are re-sent, with
their client id, to the *other* process. At the end a second batch is created through
process A: its events mark the end of each stream (the channel layer keeps each
connection's messages in order, and every event of the run was published before its
request answered).

Checked afterwards: 0 server errors and no answer refused (a lease beyond what an item
wants would end in a 409); in the database no item holds more than kappa leases or
answers, no worker twice on an item, every item done with exactly kappa answers, every
acknowledged answer stored exactly once (re-sends to the other process got the same
answer back); every event reached both processes' clients: each project stream got both
``batch.created`` and one ``crowd.item_done`` per item the database says is done (the
last one saying the batch is finished), and the two streams of each kind got the same
events.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.load.harness import Server, database_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="needs PostgreSQL: set DATABASE_URL (scripts/test starts one for its second run); "
                              "two server processes cannot share SQLite's test database"),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="needs Redis: set REDIS_URL (scripts/test starts one for its second run); the "
                              "in-memory channel layer cannot carry events between processes"),
]
ITEMS, WORKERS, KAPPA = 60, 8, 3
RUN_SECONDS = 240  # bound on the whole crowd run; it takes a few seconds
STREAM_SECONDS = 60  # bound on waiting for the closing events on each stream


@dataclass
class Stream:
    """One websocket client: every JSON message it received, in order."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str = ""  # set when the server closed it before the test did
    closing: bool = False


@dataclass
class Run:
    acked: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # client id -> (answer, assignment, worker)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (request kind, HTTP status)
    replays: int = 0
    replay_mismatches: list[tuple[str, int, Any]] = field(default_factory=list)
    finished_workers: int = 0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url, drop = database_for(tmp_path)
    try:
        yield url
    finally:
        drop()


def web_env(tmp: Path, database_url: str) -> dict[str, str]:
    """Production-like settings for both processes: DEBUG off, the Redis channel layer and cache."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url,
           "REDIS_URL": os.environ["REDIS_URL"], "AGILE_VAR_DIR": str(tmp / "var"), "JOBS_BACKEND": "inprocess",
           "DEBUG": "0", "SECRET_KEY": uuid.uuid4().hex * 2, "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
           "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", "DATABASE_POOL_SIZE": "8",
           "DATABASE_POOL_TIMEOUT": "60"}
    env.pop("POOLS_DIR", None)
    return env


def seed(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.load.crowd_seed", "--items", str(ITEMS), "--golds", "0",
                           "--workers", str(WORKERS), "--sessions", "expert,worker-0,worker-1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def listen(session: Any, url: str, path: str, cookie: str, stream: Stream) -> Any:
    """Connect (same origin, the person's session cookie) and keep reading in a task."""
    ws = await session.ws_connect(f"{url.replace('http', 'ws', 1)}{path}", autoping=True,
                                  headers={"Origin": url, "Cookie": f"sessionid={cookie}"})

    async def read() -> None:
        async for message in ws:
            if message.type.name == "TEXT":
                stream.events.append(json.loads(message.data))
                stream.changed.set()
        if not stream.closing:
            stream.closed = f"closed by the server ({ws.close_code})"
        stream.changed.set()

    return ws, asyncio.create_task(read())


async def until(stream: Stream, seen: Callable[[list[dict[str, Any]]], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not seen(stream.events):
        if stream.closed or time.monotonic() > deadline:
            return False
        stream.changed.clear()
        try:
            await asyncio.wait_for(stream.changed.wait(), timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            pass
    return True


async def post(session: Any, url: str, token: str, body: dict[str, Any], run: Run, kind: str) -> tuple[int, Any]:
    """POST JSON; a 5xx or a dropped connection is counted and sent again (same body), a few times."""
    import aiohttp

    for _ in range(5):
        try:
            async with session.post(url, json=body, headers={"Authorization": f"Token {token}"}) as response:
                payload = await response.json(content_type=None)
                run.statuses[(kind, response.status)] += 1
                if response.status < 500:
                    return response.status, payload
        except aiohttp.ClientError:
            run.statuses[(kind, 0)] += 1
        await asyncio.sleep(0.1)
    return 599, None


async def worker(session: Any, urls: list[str], index: int, token: str, batch: int, truth: dict[int, bool],
                 run: Run, deadline: float) -> None:
    """Lease two tasks at a time on this worker's process, answer each; a third of the
    answers are re-sent to the other process with the same client id."""
    rng = random.Random(index)
    home, other = urls[index % 2], urls[(index + 1) % 2]
    while time.monotonic() < deadline:
        status, lease = await post(session, f"{home}/api/crowd/next/", token, {"batch": batch, "hold": 2}, run,
                                   "next")
        if status != 200:
            return
        if lease["status"] == "finished":
            run.finished_workers += 1
            return
        if not lease["assignments"]:
            await asyncio.sleep(0.05)  # others hold the last leases: ask again (bounded by the deadline)
            continue
        for task in lease["assignments"]:
            right = rng.random() < 0.8
            body = {"assignment": task["id"], "value": "yes" if truth[int(task["item"])] == right else "no",
                    "client_id": str(uuid.uuid4()), "seconds": 1.0}
            status, stored = await post(session, f"{home}/api/answers/", token, body, run, "answer")
            if status != 201:
                continue
            run.acked[body["client_id"]] = (stored["id"], task["id"], index)
            if rng.random() < 1 / 3:
                run.replays += 1
                again, replayed = await post(session, f"{other}/api/answers/", token, body, run, "replay")
                if again != 201 or replayed != stored:
                    run.replay_mismatches.append((body["client_id"], again, replayed))


async def crowd_run(servers: list[Server], world: dict[str, Any]) -> tuple[Run, dict[str, Stream], dict[str, Any]]:
    import aiohttp

    urls = [s.url for s in servers]
    project, sessions = world["project"], world["sessions"]
    run = Run()
    streams = {name: Stream(name) for name in ("project@A", "project@B", "work@A", "work@B")}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=90)) as session:
        sockets = [
            await listen(session, urls[0], f"/ws/projects/{project}/", sessions["expert"], streams["project@A"]),
            await listen(session, urls[1], f"/ws/projects/{project}/", sessions["expert"], streams["project@B"]),
            await listen(session, urls[0], "/ws/work/", sessions["worker-0"], streams["work@A"]),
            await listen(session, urls[1], "/ws/work/", sessions["worker-1"], streams["work@B"]),
        ]
        try:
            settings = {"method": "mv", "policy": "uncertainty", "kappa": KAPPA, "overlap": KAPPA,
                        "onboarding": 0, "gold_rate": 0.0, "lease_seconds": 3600, "cohort": world["cohort"],
                        "source": "items", "items": world["items"]}
            status, created = await post(session, f"{urls[1]}/api/concepts/{world['concept']}/crowd-batches/",
                                         world["expert_token"], settings, run, "batch")
            assert status == 201, created
            batch = created["batch"]
            truth = {int(k): v for k, v in world["truth"].items()}
            deadline = time.monotonic() + RUN_SECONDS
            await asyncio.gather(*(worker(session, urls, i, token, batch, truth, run, deadline)
                                   for i, token in enumerate(world["tokens"])))
            # The closing events, from the other process: every event of the run was
            # published before its request answered, so these arrive after all of them.
            status, closing = await post(session, f"{urls[0]}/api/concepts/{world['concept']}/crowd-batches/",
                                         world["expert_token"], {**settings, "items": world["items"][:1]}, run,
                                         "batch")
            assert status == 201, closing
            last = closing["batch"]
            for name, stream in streams.items():
                kind = "batch.created" if name.startswith("project") else "work.available"
                await until(stream, lambda events, k=kind: any(e.get("event") == k and e.get("batch") == last
                                                               for e in events), STREAM_SECONDS)
        finally:
            for stream in streams.values():
                stream.closing = True
            for ws, reader in sockets:
                await ws.close()
                reader.cancel()
    return run, streams, {"batch": batch, "closing": last}


def database_facts(database_url: str, batch: int) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        leases = conn.execute("SELECT item_id, count(*), count(DISTINCT assignee_id) FROM labeling_assignment "
                              "WHERE batch_id = %s GROUP BY item_id", (batch,)).fetchall()
        answers = conn.execute("SELECT a.id, a.assignment_id, a.client_id::text, s.item_id, s.assignee_id "
                               "FROM labeling_answer a JOIN labeling_assignment s ON s.id = a.assignment_id "
                               "WHERE s.batch_id = %s AND a.retracted_at IS NULL", (batch,)).fetchall()
        items = conn.execute("SELECT ci.item_id, ci.status, ci.n_answers, ci.reason FROM aggregation_collectionitem "
                             "ci JOIN aggregation_collection c ON c.id = ci.collection_id WHERE c.batch_id = %s",
                             (batch,)).fetchall()
        collection = conn.execute("SELECT status FROM aggregation_collection WHERE batch_id = %s",
                                  (batch,)).fetchone()
    return {"leases": leases, "answers": answers, "items": items, "collection": collection[0] if collection else None}


def test_two_web_processes_share_events_and_leases(tmp_path: Path, database: str) -> None:
    env = web_env(tmp_path, database)
    world = seed(env)
    servers = [Server(env, tmp_path / f"server-{name}.log") for name in "AB"]
    try:
        for server in servers:
            server.start()
        run, streams, batches = asyncio.run(crowd_run(servers, world))
    finally:
        for server in servers:
            server.stop()
    batch = batches["batch"]
    facts = database_facts(database, batch)
    report = {"statuses": {f"{k} {s}": n for (k, s), n in sorted(run.statuses.items())}, "acked": len(run.acked),
              "replays": run.replays, "finished_workers": run.finished_workers,
              "events": {name: dict(Counter(e.get("event") for e in s.events)) for name, s in streams.items()},
              "closed": {name: s.closed for name, s in streams.items() if s.closed}}
    print(json.dumps(report))

    # Both processes served, nothing failed, nothing was refused.
    assert all(status < 500 and status != 0 for _, status in run.statuses), report
    assert not report["closed"], report
    assert {status for (kind, status) in run.statuses if kind in ("answer", "replay")} == {201}, report
    assert {status for (kind, status) in run.statuses if kind == "next"} == {200}, report
    assert not run.replay_mismatches, run.replay_mismatches[:3]
    assert run.replays > 0 and run.finished_workers == WORKERS, report

    # Leases stayed exclusive across the processes: no item leased beyond kappa, no
    # worker twice on one item, and every item got exactly kappa answers.
    assert len(facts["leases"]) == ITEMS
    assert all(n <= KAPPA and people == n for _, n, people in facts["leases"]), facts["leases"]
    per_item = Counter(item for _, _, _, item, _ in facts["answers"])
    assert set(per_item.values()) == {KAPPA} and len(per_item) == ITEMS, per_item
    assert len({(item, person) for _, _, _, item, person in facts["answers"]}) == len(facts["answers"])
    assert all(status == "done" and n == KAPPA for _, status, n, _ in facts["items"]), facts["items"]
    assert facts["collection"] == "finished"

    # Every acknowledged answer stored exactly once, under its own client id.
    stored = {client_id: (answer, assignment) for answer, assignment, client_id, _, _ in facts["answers"]}
    assert len(stored) == len(facts["answers"]) == ITEMS * KAPPA
    assert {cid: (a, s) for cid, (a, s, _) in run.acked.items()} == stored

    # Every event reached the clients of both processes.
    done_items = sorted(item for item, status, _, _ in facts["items"] if status == "done")
    for name in ("project@A", "project@B"):
        events = streams[name].events
        item_done = [e for e in events if e.get("event") == "crowd.item_done" and e.get("batch") == batch]
        assert sorted(e["item"] for e in item_done) == done_items, (name, report)
        assert [e["finished"] for e in item_done].count(True) == 1, (name, report)
        created = {e["batch"] for e in events if e.get("event") == "batch.created"}
        assert created == {batch, batches["closing"]}, (name, report)
    for name in ("work@A", "work@B"):
        announced = {e["batch"] for e in streams[name].events if e.get("event") == "work.available"}
        assert {batch, batches["closing"]} <= announced, (name, report)
    canonical = lambda s: Counter(json.dumps(e, sort_keys=True) for e in s.events)  # noqa: E731
    assert canonical(streams["project@A"]) == canonical(streams["project@B"]), report
    assert canonical(streams["work@A"]) == canonical(streams["work@B"]), report
