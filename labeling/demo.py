"""The demo world: one project with an expert, two workers in a cohort and a manager."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.choices import Role
from labeling.models import Cohort, Membership, Project

DEMO_PROJECT = "Demo: textile defects"
DEMO_PASSWORD = "agile-demo"  # the demo binds to 127.0.0.1 only
DEMO_PEOPLE = [("expert", Role.EXPERT), ("worker1", Role.WORKER), ("worker2", Role.WORKER),
               ("manager", Role.MANAGER)]
DEMO_ADMIN = "admin"  # a superuser for the Django admin (/admin/), in no project


@dataclass(frozen=True)
class DemoWorld:
    project: Project
    logins: list[tuple[str, str, str]]  # (username, password, role)


@transaction.atomic
def ensure_demo_world() -> DemoWorld:
    """Create (or find again) the demo project and people; safe to run repeatedly."""
    users = {}
    for username, _ in DEMO_PEOPLE:
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        users[username] = user
    admin, created = get_user_model().objects.get_or_create(username=DEMO_ADMIN,
                                                            defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_password(DEMO_PASSWORD)
        admin.save()
    project, _ = Project.objects.get_or_create(name=DEMO_PROJECT, defaults={"created_by": users["manager"]})
    for username, role in DEMO_PEOPLE:
        Membership.objects.get_or_create(project=project, user=users[username], role=role)
    cohort, _ = Cohort.objects.get_or_create(project=project, name="Demo cohort")
    cohort.workers.add(users["worker1"], users["worker2"])
    return DemoWorld(project, [(u, DEMO_PASSWORD, str(role.label)) for u, role in DEMO_PEOPLE])
