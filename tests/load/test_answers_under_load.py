"""Answers against a real server process (daphne) on loopback, under concurrency.

- 50 identical submissions of one answer (same client_id) sent at once all get the stored
  answer back: 201 with the same body, never a 409 (SQLite and PostgreSQL).
- Load and kill (PostgreSQL): 200 concurrent clients submit 1,000 answers; the server is
  SIGKILLed mid-run and restarted; every answer not acknowledged is re-sent with its
  client_id. Nothing is lost, nothing doubled, no server error, and the server's
  connections never exceed its pool (``DATABASE_POOL_SIZE``), sampled from
  pg_stat_activity every 20 ms.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.load.harness import (
    ConnectionSampler,
    Outcome,
    Server,
    database_for,
    run_clients,
    seed,
    server_env,
    stored_answers,
)

pytestmark = [pytest.mark.slow]
POOL = 8
CLIENTS, PER_CLIENT = 200, 5


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url, drop = database_for(tmp_path)
    try:
        yield url
    finally:
        drop()


def test_it_returns_the_stored_answer_to_50_concurrent_replays(tmp_path: Path, database: str) -> None:
    env = server_env(tmp_path, database, POOL)
    world = seed(env, 1, 1)
    server = Server(env, tmp_path / "server.log")
    server.start()
    try:
        worker = world["workers"][0]
        body = json.dumps({"assignment": worker["assignments"][0], "value": "yes", "client_id": str(uuid.uuid4())})
        start = threading.Barrier(50)
        replies: list[tuple[int, bytes]] = []
        lock = threading.Lock()

        def replay() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            start.wait(timeout=60)
            connection.request("POST", "/api/answers/", body=body, headers={
                "Authorization": f"Token {worker['token']}", "Content-Type": "application/json"})
            response = connection.getresponse()
            with lock:
                replies.append((response.status, response.read()))
            connection.close()

        threads = [threading.Thread(target=replay) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.stop()
    assert Counter(status for status, _ in replies) == Counter({201: 50})
    assert len({content for _, content in replies}) == 1  # the same body: the stored answer
    assert len(stored_answers(database, world["batch"])) == 1


@pytest.mark.postgres
def test_it_loses_and_doubles_nothing_when_the_server_is_killed(tmp_path: Path, database: str) -> None:
    if not database.startswith("postgres"):
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    env = server_env(tmp_path, database, POOL)
    world = seed(env, CLIENTS, PER_CLIENT)
    total = CLIENTS * PER_CLIENT
    server = Server(env, tmp_path / "server.log")
    server.start()
    killed_at: dict[str, Any] = {}

    def kill_mid_run(outcome: Outcome) -> None:
        deadline = time.monotonic() + 120
        while len(outcome.acked) < total * 0.3 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed_at["acked"] = len(outcome.acked)
        server.kill()
        time.sleep(0.5)
        server.start()

    try:
        with ConnectionSampler(database) as sampler:
            outcome, client_ids = run_clients(server.port, world["workers"], seconds=240, during=kill_mid_run)
    finally:
        server.stop()
    stored = stored_answers(database, world["batch"])
    by_assignment = Counter(assignment for _, assignment, _ in stored)
    report = {"answers": total, "acked_before_kill": killed_at.get("acked"), "disconnects": outcome.disconnects,
              "statuses": dict(outcome.statuses), "stored": len(stored), "max_connections": sampler.max_total,
              "max_per_process": dict(sampler.max_per_process), "samples": sampler.samples}
    print(json.dumps(report))
    if os.environ.get("AGILE_LOAD_REPORT"):
        Path(os.environ["AGILE_LOAD_REPORT"]).write_text(json.dumps(report, indent=1))
    assert 0 < killed_at["acked"] < total  # killed mid-run
    assert outcome.unfinished == 0 and len(outcome.acked) == total, report
    assert outcome.server_errors == 0, report
    assert set(outcome.statuses) == {201}, report
    assert len(stored) == total and max(by_assignment.values()) == 1, report  # 0 lost, 0 doubled
    assert {(a, client_ids[a]) for _, a, _ in stored} == {(a, c) for _, a, c in stored}  # each its own client id
    assert {answer_id for answer_id, _, _ in stored} == set(outcome.acked.values())
    assert sampler.samples > 10 and all(n <= POOL for n in sampler.max_per_process.values()), report
    assert sampler.max_total <= POOL, report
