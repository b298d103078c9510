"""Prepare the browser test's own database: ``python -m tests.browser.seed`` migrates it and
creates one project with an expert (ann), a worker (bob) and a manager (max).
Prints the ids as one JSON line. Runs in a subprocess with the server's environment."""

from __future__ import annotations

import json

PASSWORD = "correct horse battery staple"


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from labeling.choices import Role
    from labeling.models import Membership, Project

    call_command("migrate", interactive=False, verbosity=0)
    users = {}
    for name in ("ann", "bob", "max"):
        users[name] = get_user_model().objects.create_user(username=name, password=PASSWORD)
    project = Project.objects.create(name="Aircraft", created_by=users["max"])
    for name, role in (("ann", Role.EXPERT), ("bob", Role.WORKER), ("max", Role.MANAGER)):
        Membership.objects.create(project=project, user=users[name], role=role)
    print(json.dumps({"project": project.pk}))


if __name__ == "__main__":
    main()
