"""A retried map-reduce job never runs a shard twice at once.

A chord does not stop its other shards when one fails: a retry may start while a shard of
the failed attempt still runs on another worker. Here shard 1 of attempt 1 runs in a
thread (as on another Celery worker) and is held inside its shard function while shard 0
fails and the job is retried through ``jobs.services.retry``; the retry (the in-process
runner) runs shard 0 again, finds shard 1 claimed and waits for it instead of running it
beside it, then takes its result; a task of attempt 1 that had not started does nothing;
the reduce sees both results. A claim whose worker died is taken over (at once on this host, after the
heartbeat window elsewhere)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from jobs import mapreduce
from jobs.models import Job, ShardRun
from jobs.runners import wait_for_idle
from jobs.services import retry
from tests.people import build_world

pytestmark = pytest.mark.django_db(transaction=True)
STEP = "test.retry_shard"


class Shards:
    """The shard function: shard 0 fails on its first call; shard 1 is held on its first
    call until released. Counts calls and the most runs of one shard at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = {0: 0, 1: 0}
        self.active = {0: 0, 1: 0}
        self.most_at_once = {0: 0, 1: 0}
        self.inside, self.release = threading.Event(), threading.Event()

    def __call__(self, job: Job, shard: dict[str, Any], context: dict[str, Any], progress: Any) -> dict[str, Any]:
        n = shard["n"]
        with self.lock:
            self.calls[n] += 1
            first = self.calls[n] == 1
            self.active[n] += 1
            self.most_at_once[n] = max(self.most_at_once[n], self.active[n])
        try:
            if n == 0 and first:
                raise OSError("simulated lost mount of the shared pool storage")
            if n == 1 and first:
                self.inside.set()
                assert self.release.wait(timeout=60)
            return {"value": 10 + n}
        finally:
            with self.lock:
                self.active[n] -= 1


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> Shards:
    fn = Shards()
    monkeypatch.setitem(mapreduce._SHARD_FUNCTIONS, STEP, fn)
    monkeypatch.setitem(mapreduce._REDUCERS, "test.retry_sum",
                        lambda job, results, context, progress: {"sum": sum(r["value"] for r in results)})
    return fn


def running_job(tmp_path: Path) -> Job:
    world = build_world(tmp_path / "images")
    step = mapreduce.MapStep(STEP, [{"n": 0}, {"n": 1}], "test.retry_sum")
    return Job.objects.create(project=world.fish, kind="embed_pool", status=Job.Status.RUNNING, attempts=1,
                              result={mapreduce.STATE_KEY: step.to_json()})


def in_thread(target: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target(*args))
        except BaseException as exc:  # reported by the test
            out.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_retry_waits_for_a_shard_still_running_from_the_failed_attempt(
    tmp_path: Path, shards: Shards, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = running_job(tmp_path)
    old, old_out = in_thread(mapreduce.run_shard, job.pk, STEP, 1, 1)
    assert shards.inside.wait(timeout=60)  # attempt 1's shard 1 is running (on "another worker")
    assert mapreduce.run_shard(job.pk, STEP, 0, 1, raise_errors=False) is False
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "Shard 1 of 2" in job.error

    waiting = threading.Event()
    monkeypatch.setattr(mapreduce, "_pause", lambda seconds: (waiting.set(), threading.Event().wait(0.02)))
    retry(job)  # the in-process runner resumes the job at its map step: attempt 2
    try:
        assert waiting.wait(timeout=60)  # it ran shard 0 again, found shard 1 claimed, and waits
        assert shards.calls == {0: 2, 1: 1}
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING and job.attempts == 2
        # attempt 1's task for shard 0 that had not started yet: its chord is gone
        assert mapreduce.run_shard(job.pk, STEP, 0, 1, raise_errors=False) is False
        assert shards.calls[0] == 2
    finally:
        shards.release.set()
        old.join(timeout=60)
        wait_for_idle()
    assert old_out == [True]
    assert shards.calls == {0: 2, 1: 1} and shards.most_at_once == {0: 1, 1: 1}
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {"sum": 21}
    runs = {r.shard: r for r in ShardRun.objects.filter(job=job)}
    assert [runs[0].attempts, runs[1].attempts] == [2, 1] and not runs[0].token and not runs[1].token


@pytest.mark.parametrize("holder", ["dead-here", "silent-elsewhere"])
def test_a_claim_whose_worker_died_is_taken_over(tmp_path: Path, shards: Shards, holder: str) -> None:
    import socket
    import subprocess

    job = running_job(tmp_path)
    if holder == "dead-here":  # a process of this host that has exited: taken over at once
        gone = subprocess.Popen(["true"])
        gone.wait()
        worker, beat = f"{socket.gethostname()}:{gone.pid}", timezone.now()
    else:  # another machine, no heartbeat for longer than the window
        worker, beat = "elsewhere:1", timezone.now() - timedelta(seconds=mapreduce.SHARD_STALE_SECONDS + 1)
    ShardRun.objects.create(job=job, step=STEP, shard=1, status=ShardRun.Status.RUNNING, token="a" * 32,
                            heartbeat_at=beat, worker=worker, attempts=1)
    shards.release.set()
    assert mapreduce.run_shard(job.pk, STEP, 1, 1) is True
    assert shards.calls[1] == 1
    assert ShardRun.objects.get(job=job, shard=1).status == ShardRun.Status.SUCCEEDED


def test_a_live_claim_elsewhere_is_not_taken(tmp_path: Path, shards: Shards, monkeypatch: pytest.MonkeyPatch) -> None:
    job = running_job(tmp_path)
    ShardRun.objects.create(job=job, step=STEP, shard=1, status=ShardRun.Status.RUNNING, token="a" * 32,
                            heartbeat_at=timezone.now(), worker="elsewhere:1", attempts=1)
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # the holder ends while this run waits
        pauses.append(seconds)
        ShardRun.objects.filter(job=job, shard=1).update(status=ShardRun.Status.SUCCEEDED, result={"value": 11},
                                                         token="")

    monkeypatch.setattr(mapreduce, "_pause", pause)
    assert mapreduce.run_shard(job.pk, STEP, 1, 1) is True
    assert pauses and shards.calls[1] == 0
