"""A real server under load, on loopback: daphne in a subprocess on a database of its own,
many concurrent answering clients (threads with keep-alive HTTP connections), and a
sampler of the server's PostgreSQL connections (``pg_stat_activity``).

Used by ``tests/load`` and ``benchmarks/answer_load.py``. Every loop is bounded in count
and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.browser.conftest import ROOT, free_port, own_database, wait_until_up


def seed(env: dict[str, str], workers: int, per_worker: int | list[int]) -> dict[str, Any]:
    counts = ",".join(map(str, per_worker)) if isinstance(per_worker, list) else str(per_worker)
    done = subprocess.run([sys.executable, "-m", "tests.load.seed", str(workers), counts], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class Server:
    """daphne serving config.asgi on a free loopback port; ``kill()`` is SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {**self.env, "DATABASE_APPLICATION_NAME": f"agile-load-{self.starts}"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_until_up(f"{self.url}/healthz", self.process, self.log)

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def server_env(tmp: Path, database_url: str, pool_size: int) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url,
           "AGILE_VAR_DIR": str(tmp / "var"), "JOBS_BACKEND": "inprocess", "DEBUG": "1", "PYTHONUNBUFFERED": "1",
           "DATABASE_POOL_SIZE": str(pool_size), "LOG_LEVEL": "ERROR",
           # A shared 2-core machine under load queues 200 requests for seconds: the test is
           # about the bound on connections, not about the wait before a 503.
           "DATABASE_POOL_TIMEOUT": os.environ.get("DATABASE_POOL_TIMEOUT", "60")}
    env.pop("POOLS_DIR", None)
    return env


@dataclass
class Outcome:
    """What the clients saw. ``acked``: assignment id -> the answer id the server returned."""

    acked: dict[int, int] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    disconnects: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of acknowledged requests
    unfinished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def answer_body(assignment: int, client_id: str) -> bytes:
    return json.dumps({"assignment": assignment, "value": "yes", "client_id": client_id, "seconds": 1.0}).encode()


def run_client(port: int, token: str, assignments: list[int], outcome: Outcome, deadline: float,
               client_ids: dict[int, str]) -> None:
    """Answer each assignment once, re-sending (same client_id) whatever was not acknowledged."""
    connection: http.client.HTTPConnection | None = None
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Connection": "keep-alive"}
    pause = 0.05
    queue = list(assignments)
    while queue and time.monotonic() < deadline:
        assignment = queue[0]
        body = answer_body(assignment, client_ids[assignment])
        started = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/api/answers/", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            # The server went away (killed) before answering: not acknowledged, so re-send.
            with outcome.lock:
                outcome.disconnects += 1
            if connection is not None:
                connection.close()
            connection = None
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            continue
        with outcome.lock:
            outcome.statuses[response.status] += 1
        if response.status == 201:
            with outcome.lock:
                outcome.acked[assignment] = json.loads(payload)["id"]
                outcome.latencies.append(time.perf_counter() - started)
            queue.pop(0)
            pause = 0.05
        elif response.status >= 500:
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        else:
            queue.pop(0)  # a 4xx is final: counted in statuses, never retried
    if connection is not None:
        connection.close()
    with outcome.lock:
        outcome.unfinished += len(queue)


def run_clients(port: int, workers: list[dict[str, Any]], *, seconds: float,
                during: Callable[[Outcome], None] | None = None) -> tuple[Outcome, dict[int, str]]:
    """Every worker a thread, all at once; ``during(outcome)`` runs beside them (the kill)."""
    outcome = Outcome()
    client_ids = {a: str(uuid.uuid4()) for w in workers for a in w["assignments"]}
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=run_client, args=(port, w["token"], w["assignments"], outcome, deadline,
                                                         client_ids), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    if during is not None:
        during(outcome)
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 30))
    return outcome, client_ids


class ConnectionSampler:
    """Counts the server's connections to its database every ``every`` seconds, per server
    process (``application_name``) and in all; from a connection to another database."""

    def __init__(self, database_url: str, every: float = 0.02) -> None:
        from urllib.parse import urlparse, urlunparse

        parsed = urlparse(database_url)
        self.database = parsed.path.lstrip("/")
        self.admin_url = urlunparse(parsed._replace(path="/postgres"))
        self.every = every
        self.max_total = 0
        self.max_per_process: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute("SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s "
                                    "AND backend_type = 'client backend' GROUP BY 1", (self.database,)).fetchall()
                self.samples += 1
                self.max_total = max(self.max_total, sum(n for _, n in rows))
                for name, n in rows:
                    self.max_per_process[name] = max(self.max_per_process[name], n)
                time.sleep(self.every)


def stored_answers(database_url: str, batch: int) -> list[tuple[int, int, str]]:
    """(answer id, assignment id, client id) of every live answer of the batch, from the database."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT a.id, a.assignment_id, a.client_id FROM labeling_answer a JOIN "
                                "labeling_assignment s ON s.id = a.assignment_id WHERE s.batch_id = ? "
                                "AND a.retracted_at IS NULL", (batch,)).fetchall()
        return [(i, s, str(uuid.UUID(c))) for i, s, c in rows]
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT a.id, a.assignment_id, a.client_id FROM labeling_answer a JOIN "
                            "labeling_assignment s ON s.id = a.assignment_id WHERE s.batch_id = %s "
                            "AND a.retracted_at IS NULL", (batch,)).fetchall()
    return [(i, s, str(c)) for i, s, c in rows]


def database_for(tmp: Path) -> tuple[str, Callable[[], None]]:
    return own_database(tmp)
