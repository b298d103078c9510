"""Seed a crowd load run's own database: ``python -m tests.load.crowd_seed [options]``.

Runs in a subprocess with the server's environment (its DATABASE_URL, SECRET_KEY), so
several server processes can then serve what it made. Migrates, then makes: an expert
(with an API token) in a project, a synthetic ready pool of ``--items`` work items and
``--golds`` gold items (keys ``yes/<n>`` or ``no/<n>``: the truth), the concept, the golds'
expert labels and an assessment set of them, a cohort of ``--workers`` simulated workers
(``aggregation.headless.enlist``: a token each) and, with ``--batch SETTINGS``, a crowd
batch of the work items with those collection settings (JSON, ``CrowdSettings`` fields).
``--sessions`` logs people in (``expert``, ``worker-<i>``): their session cookies are
printed too, for websocket clients. Prints one JSON line.

Used by ``benchmarks/crowd_load.py`` and ``tests/load/test_web_processes.py``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--golds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--batch", default="", help="Crowd settings (JSON) of a batch of the work items.")
    parser.add_argument("--sessions", default="", help="Comma-separated people to log in: expert, worker-<i>.")
    args = parser.parse_args(argv)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    print(json.dumps(seed(args.items, args.golds, args.workers, json.loads(args.batch) if args.batch else None,
                          [s for s in args.sessions.split(",") if s])))


def seed(items: int, golds: int, workers: int, batch: dict[str, Any] | None, sessions: list[str]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from aggregation.collection import CrowdSettings, create_crowd_batch
    from aggregation.headless import enlist
    from labeling.choices import LabelSource, Role
    from labeling.models import Cohort, Concept, Item, Label, Membership, Pool, Project
    from labeling.services import build_assessment_set

    expert = get_user_model().objects.create_user("expert")
    project = Project.objects.create(name="load", created_by=expert)
    Membership.objects.create(project=project, user=expert, role=Role.EXPERT)
    pool = Pool.objects.create(project=project, name="synthetic", status="ready")
    rows = Item.objects.bulk_create([Item(pool=pool, key=f"{'yes' if i % 2 else 'no'}/{i}", row=i)
                                     for i in range(items + golds)], batch_size=5000)
    concept = Concept.objects.create(project=project, owner=expert, name="thing")
    gold_items = rows[items:]
    Label.objects.bulk_create([Label(item=i, concept=concept, value=i.key.startswith("yes"),
                                     source=LabelSource.EXPERT, method="expert") for i in gold_items])
    gold = (build_assessment_set(concept=concept, user=expert, name="gold", items=[i.pk for i in gold_items])
            if gold_items else None)
    cohort = Cohort.objects.create(project=project, name="crowd")
    people = enlist(project, cohort, workers, "load")
    out: dict[str, Any] = {
        "project": project.pk, "concept": concept.pk, "cohort": cohort.pk, "pool": pool.pk,
        "assessment_set": gold.pk if gold else None, "items": [i.pk for i in rows[:items]],
        "expert_token": Token.objects.get_or_create(user=expert)[0].key,
        "tokens": [Token.objects.get(user=u).key for u in people],
        "truth": {i.pk: i.key.startswith("yes") for i in rows},
    }
    if batch is not None:
        out["batch"] = create_crowd_batch(concept=concept, items=out["items"], user=expert, cohort=cohort,
                                          assessment_set=gold, settings=CrowdSettings(**batch)).pk
    by_name = {"expert": expert, **{f"worker-{i}": u for i, u in enumerate(people)}}
    out["sessions"] = {name: session_of(by_name[name]) for name in sessions}
    return out


def session_of(user: Any) -> str:
    """A logged-in session of ``user`` in the database (the value of its ``sessionid`` cookie)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


if __name__ == "__main__":
    main()
