"""Seed a load test's own database: ``python -m tests.load.seed WORKERS PER_WORKER``.

Migrates, then creates one project with a crowd batch of ``WORKERS x PER_WORKER``
assignments (each worker ``PER_WORKER`` items; or a comma-separated count per worker)
and an API token per worker. Prints one
JSON line: ``{"workers": [{"token": ..., "assignments": [...]}, ...]}``. Runs in a
subprocess with the server's environment (its DATABASE_URL)."""

from __future__ import annotations

import json
import sys


def main(workers: int, counts: list[int]) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from labeling.choices import BatchKind, Role
    from labeling.models import Assignment, Batch, Concept, Item, Membership, Pool, Project

    call_command("migrate", interactive=False, verbosity=0)
    User = get_user_model()
    owner = User.objects.create(username="load-expert")
    people = User.objects.bulk_create(User(username=f"load-worker-{i}", password="!") for i in range(workers))
    project = Project.objects.create(name="Load", created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.EXPERT)
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.WORKER) for u in people)
    pool = Pool.objects.create(project=project, name="load", source="")
    items = Item.objects.bulk_create(Item(pool=pool, key=f"img/{i:05d}.jpg", row=i) for i in range(max(counts)))
    concept = Concept.objects.create(project=project, owner=owner, name="load")
    batch = Batch.objects.create(concept=concept, kind=BatchKind.CROWD, created_by=owner)
    Assignment.objects.bulk_create((Assignment(batch=batch, item=item, assignee=u, position=p)
                                    for u, count in zip(people, counts) for p, item in enumerate(items[:count])),
                                   batch_size=5000)
    tokens = {t.user_id: t.key for t in Token.objects.bulk_create(Token(user=u, key=Token.generate_key())
                                                                   for u in people)}
    rows: dict[int, list[int]] = {u.pk: [] for u in people}
    for user_id, assignment_id in Assignment.objects.filter(batch=batch).order_by("id").values_list("assignee_id", "id"):
        rows[user_id].append(assignment_id)
    print(json.dumps({"batch": batch.pk, "workers": [{"token": tokens[u.pk], "assignments": rows[u.pk]}
                                                     for u in people]}))


if __name__ == "__main__":
    workers = int(sys.argv[1])
    counts = [int(n) for n in sys.argv[2].split(",")]
    main(workers, counts * workers if len(counts) == 1 else counts)
