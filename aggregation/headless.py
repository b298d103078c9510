"""The headless crowd: simulated workers who pull, answer and get re-asked through the
same API and services the task page uses, so the whole crowd loop runs without people.

Each worker has an accuracy drawn from U(a, b) for their cohort. Given a task, they give
the true answer with that probability and the other one otherwise (and "don't know" at
``dont_know`` rate); the truth comes from a function of the item (e.g. its class folder).
Workers take turns, one task each, so re-queries reach other workers as they would in a
live crowd; each gets their leases from "next" exactly as a person's page does.

Two transports: ``ServiceTransport`` calls the services behind the API in this process
(the demo, tests, the engine-vs-app benchmark); ``HttpTransport`` speaks HTTP with a token
to a running server (load tests, ``manage.py crowd --url``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Truth = Callable[[int], bool | None]  # item id -> does it show the concept (None: unknown)


class Transport(Protocol):
    def next(self, batch: int, hold: int) -> dict[str, Any]: ...

    def answer(self, assignment: int, value: str, client_id: str, seconds: float) -> int: ...


class ServiceTransport:
    """The API's services in this process, for one worker."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def next(self, batch: int, hold: int) -> dict[str, Any]:
        from aggregation import leasing
        from aggregation.serializers import LeaseSerializer
        from labeling.models import Batch

        found = Batch.objects.select_related("concept", "cohort").get(pk=batch)
        return dict(LeaseSerializer(leasing.next_tasks(self.user, found, hold)).data)

    def answer(self, assignment: int, value: str, client_id: str, seconds: float) -> int:
        from labeling.errors import Conflict
        from labeling.models import Assignment
        from labeling.services import submit_answer

        target = Assignment.objects.get(pk=assignment, assignee=self.user)
        try:
            submit_answer(worker=self.user, assignment=target, value=value, client_id=uuid.UUID(client_id),
                          seconds=seconds)
        except Conflict:
            return 409
        return 201


class HttpTransport:
    """A running server's API over HTTP, authenticated with the worker's token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def next(self, batch: int, hold: int) -> dict[str, Any]:
        status, body = self._post("/api/crowd/next/", {"batch": batch, "hold": hold})
        if status != 200:
            raise RuntimeError(f"next task: HTTP {status}: {body.get('error')}")
        return body

    def answer(self, assignment: int, value: str, client_id: str, seconds: float) -> int:
        for _ in range(5):  # a network failure is retried with the same client id
            try:
                status, _ = self._post("/api/answers/", {"assignment": assignment, "value": value,
                                                         "client_id": client_id, "seconds": seconds})
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                continue
            return status
        raise RuntimeError("answer: the server did not answer five times")


@dataclass
class SimulatedWorker:
    """One simulated person: their accuracy, their randomness, the way to reach the API."""

    name: str
    accuracy: float
    transport: Transport
    rng: np.random.Generator
    dont_know: float = 0.0
    answered: int = 0
    statuses: list[str] = field(default_factory=list)

    def respond(self, truth: bool | None) -> str:
        if truth is None or self.rng.random() < self.dont_know:
            return "dont_know"
        right = self.rng.random() < self.accuracy
        return "yes" if truth == right else "no"

    def take_turn(self, batch: int, truth: Truth) -> bool:
        """Ask for the next task and answer it; False when there was nothing to do."""
        lease = self.transport.next(batch, 1)
        self.statuses.append(lease["status"])
        if not lease["assignments"]:
            return False
        task = lease["assignments"][0]
        value = self.respond(truth(int(task["item"])))
        seconds = float(self.rng.uniform(1.0, 6.0))
        if self.transport.answer(int(task["id"]), value, str(uuid.uuid4()), seconds) == 201:
            self.answered += 1
        return True


@dataclass(frozen=True)
class CrowdRun:
    answers: int
    turns: int
    by_worker: dict[str, int]
    last_status: dict[str, str]


def run_crowd(batch: int, workers: Iterable[SimulatedWorker], truth: Truth, max_turns: int = 1_000_000,
              progress: Callable[[int], None] | None = None) -> CrowdRun:
    """Workers take turns (one task each) until none of them gets work."""
    active = list(workers)
    everyone = list(active)
    turns = 0
    while active and turns < max_turns:
        still = []
        for worker in active:
            turns += 1
            if worker.take_turn(batch, truth):
                still.append(worker)
        active = still
        if progress is not None:
            progress(sum(w.answered for w in everyone))
    return CrowdRun(answers=sum(w.answered for w in everyone), turns=turns,
                    by_worker={w.name: w.answered for w in everyone},
                    last_status={w.name: (w.statuses[-1] if w.statuses else "") for w in everyone})


def accuracies(n: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Worker accuracies drawn from U(low, high), shape (n,)."""
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got U({low}, {high})")
    return rng.uniform(low, high, size=n)


def enlist(project: Any, cohort: Any, count: int, prefix: str) -> list[Any]:
    """``count`` simulated worker accounts (``<prefix>-01`` …), workers of the project and
    members of the cohort, each with an API token; made once, found again on a re-run."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from labeling.choices import Role
    from labeling.models import Membership

    people = []
    for index in range(1, count + 1):
        user, created = get_user_model().objects.get_or_create(username=f"{prefix}-{index:02d}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(project=project, user=user, role=Role.WORKER)
        if cohort is not None:
            cohort.workers.add(user)
        Token.objects.get_or_create(user=user)
        people.append(user)
    return people


def truth_from_folders(positive_classes: Iterable[str]) -> Truth:
    """Truth from an item's key: its first folder is its class (``<class>/<file>``)."""
    from labeling.models import Item

    positive = set(positive_classes)
    cache: dict[int, bool | None] = {}

    def truth(item_id: int) -> bool | None:
        if item_id not in cache:
            key = Item.objects.filter(pk=item_id).values_list("key", flat=True).first()
            cache[item_id] = None if key is None or "/" not in key else key.split("/", 1)[0] in positive
        return cache[item_id]

    return truth
