"""Many workers at once on PostgreSQL: row locks with SKIP LOCKED keep every cap.

20 workers ask and answer at the same time (each in its own thread and database
connection, as request threads are) for a batch with kappa 3 and no confidence stop
(uncertainty sampling, no budget), so every item wants exactly 3 answers; a third of the answers are re-sent with
their client id. Afterwards: no item above 3 answers, no worker twice on one item, every
acknowledged answer stored exactly once, and every item finished."""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from aggregation.collection import CrowdSettings, create_crowd_batch
from aggregation.headless import ServiceTransport
from aggregation.models import CollectionItem
from labeling.models import Answer
from tests.crowd.world import build_crowd_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="needs PostgreSQL: set DATABASE_URL (scripts/test starts one for its second run)"),
]
WORKERS = 20


def test_it_keeps_every_cap_with_20_workers_at_once(tmp_path: Path) -> None:
    world = build_crowd_world(tmp_path / "images", workers=WORKERS)
    # Uncertainty sampling has no confidence stop: every item runs to kappa, so the caps are
    # what end the collection.
    settings = CrowdSettings(method="mv", policy="uncertainty", kappa=3, onboarding=0, gold_rate=0.0)
    batch = create_crowd_batch(concept=world.concept, items=[i.pk for i in world.work], user=world.ann,
                               cohort=world.cohort, settings=settings)
    acknowledged: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def work(user: Any, seed: int) -> None:
        rng = random.Random(seed)
        transport = ServiceTransport(user)
        try:
            start.wait()
            for _ in range(100):
                lease = transport.next(batch.pk, 1)
                if not lease["assignments"]:
                    return
                task = lease["assignments"][0]
                client_id, value = str(uuid.uuid4()), rng.choice(["yes", "no"])
                status = transport.answer(task["id"], value, client_id, 1.0)
                if status == 201:
                    with lock:
                        acknowledged.append((task["id"], client_id))
                    if rng.random() < 1 / 3:  # a retry of an answer that already got through
                        assert transport.answer(task["id"], value, client_id, 1.0) == 201
        except BaseException as exc:  # reported below, with the thread's own traceback lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(user, i)) for i, user in enumerate(world.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    answers = list(Answer.objects.filter(assignment__batch=batch).values_list(
        "assignment__item_id", "worker_id", "client_id", "assignment_id"))
    per_item = Counter(item for item, _, _, _ in answers)
    assert max(per_item.values()) == 3 and set(per_item) == {i.pk for i in world.work}
    assert len({(item, worker) for item, worker, _, _ in answers}) == len(answers)  # nobody twice on an item
    stored = {(assignment, str(client)) for _, _, client, assignment in answers}
    assert stored == set(acknowledged) and len(answers) == len(acknowledged)    # none lost, none doubled
    assert not CollectionItem.objects.filter(collection__batch=batch, status="open").exists()


def test_the_last_two_items_finished_at_once_finish_the_collection(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The last two open items answered at the same time (two requests, in any processes):
    each answer's transaction sees the other item still open until the other commits, so
    the batch is finished by whichever commits last, never by neither. The first answer is
    held just before it counts its answer on the collection, while the second runs through."""
    from aggregation import live
    from aggregation.models import Collection

    world = build_crowd_world(tmp_path / "images", workers=2)
    settings = CrowdSettings(method="mv", kappa=1, onboarding=0, gold_rate=0.0)
    batch = create_crowd_batch(concept=world.concept, items=[i.pk for i in world.work[:2]], user=world.ann,
                               cohort=world.cohort, settings=settings)
    first, second = (ServiceTransport(w) for w in world.workers)
    tasks = [t.next(batch.pk, 1)["assignments"][0] for t in (first, second)]
    assert tasks[0]["item"] != tasks[1]["item"]
    entered, release = threading.Event(), threading.Event()
    real_count, done_events = live._count_spent, []

    def held_count(collection: Any) -> None:
        if threading.current_thread().name == "first":
            entered.set()
            release.wait(timeout=60)
        real_count(collection)

    monkeypatch.setattr(live, "_count_spent", held_count)
    monkeypatch.setattr(live, "publish", lambda project, event, payload: done_events.append(payload))
    statuses: list[int] = []

    def answer(transport: ServiceTransport, task: dict[str, Any]) -> None:
        try:
            statuses.append(transport.answer(task["id"], "yes", str(uuid.uuid4()), 1.0))
        finally:
            connections.close_all()

    held = threading.Thread(target=answer, args=(first, tasks[0]), name="first")
    held.start()
    try:
        assert entered.wait(timeout=60)
        answer(second, tasks[1])  # runs to its commit while the first answer is held
    finally:
        release.set()
        held.join(timeout=60)
    assert statuses == [201, 201]
    assert Collection.objects.get(batch=batch).status == Collection.Status.FINISHED
    assert sorted(e["finished"] for e in done_events) == [False, True]
