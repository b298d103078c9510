"""``manage.py demo``: set up the demo on real images and serve it on http://127.0.0.1:8000/."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from tqdm import tqdm

from jobs.recovery import recover_orphans
from labeling.choices import AssignmentStatus
from labeling.demo import DEMO_ADMIN, DEMO_PASSWORD, ensure_demo_world
from modeling.demo import ensure_demo_concept, ensure_demo_pool


class Command(BaseCommand):
    help = ("Migrate the database; create the demo project and its people (an expert, two workers in a cohort, "
            "a manager, and an admin for /admin/); embed 2,000 real textile images with the offline encoder (progress bar; cached after the "
            "first run); define a concept with a first batch to rate; print the logins; serve the app.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to serve on (default 8000).")
        parser.add_argument("--no-serve", action="store_true", help="Set everything up, then exit.")
        parser.add_argument("--no-pool", action="store_true", help="Skip embedding the demo images.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Preparing the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        recover_orphans()
        world = ensure_demo_world()
        studio = "/"
        if not options["no_pool"]:
            studio = self._pool_and_concept(world.project)
        url = f"http://{options['host']}:{options['port']}"
        self.stdout.write(self.style.SUCCESS(f"\nDemo project: {world.project.name}"))
        self.stdout.write("Logins (every password: agile-demo):" if not options["no_serve"] else
                          "Logins, once the server runs (every password: agile-demo):")
        for username, password, role in world.logins:
            self.stdout.write(f"  {role:<8} {username:<9} password: {password}")
        self.stdout.write(f"  {'admin':<8} {DEMO_ADMIN:<9} password: {DEMO_PASSWORD}   (the Django admin, /admin/)")
        if options["no_serve"]:
            self.stdout.write("Set up; not serving (--no-serve). Serve it with: python manage.py demo")
            return
        self.stdout.write(f"Open {url}/ and log in. The expert's studio: {url}{studio}\n"
                          f"API docs: {url}/api/docs/    Django admin: {url}/admin/    (Ctrl+C stops)\n")
        from daphne.cli import CommandLineInterface

        CommandLineInterface().run(["-b", options["host"], "-p", str(options["port"]), "config.asgi:application"])

    def _pool_and_concept(self, project: Any) -> str:
        expert = get_user_model().objects.get(username="expert")
        bars = PhaseBars(self.stdout)
        try:
            pool = ensure_demo_pool(project, expert, bars)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bars.close()
        concept, batch = ensure_demo_concept(project, expert, pool)
        waiting = batch.assignments.filter(status=AssignmentStatus.OPEN).count()
        total = batch.assignments.count()
        rated = f" ({total - waiting} of {total} already rated)" if waiting < total else ""
        self.stdout.write(f"Pool {pool.name!r}: {pool.items.count()} images; concept {concept.name!r}: "
                          f"{waiting} images waiting to be rated{rated}.")
        self._crowd(project, expert, concept, pool)
        return f"/concepts/{concept.pk}/studio/"

    def _crowd(self, project: Any, expert: Any, concept: Any, pool: Any) -> None:
        """A crowd batch answered by simulated workers through the API's services, and one
        left open for the demo's two workers."""
        from aggregation.demo import ensure_demo_crowd
        from labeling.models import Cohort

        people = Cohort.objects.get(project=project, name="Demo cohort")
        with tqdm(total=None, unit="answer", desc="Headless crowd answering", file=_Raw(self.stdout), mininterval=0.5) as bar:
            crowd = ensure_demo_crowd(project, expert, concept, pool, people, lambda n: bar.update(n - bar.n))
        p = crowd.progress
        self.stdout.write(f"Crowd batch #{crowd.answered.pk}: {p['done']} of {p['items']} items labelled by "
                          f"{len(crowd.accuracy)} simulated workers (GTX, tau 0.99), {p['work_answers']} answers "
                          f"+ {p['gold_answers']} on golds, {crowd.re_asked} items re-asked, cost {p['cost']}.")
        shown = ", ".join(f"{name} {est:.2f}" for name, _, est in crowd.accuracy)
        self.stdout.write(f"  Worker accuracies from gold items: {shown}")
        self.stdout.write(f"Crowd batch #{crowd.open_for_people.pk} waits for worker1 and worker2 "
                          f"({crowd.open_for_people.collection.items.filter(is_gold=False).count()} items, "
                          "4 onboarding golds first).")


class _Raw:
    """A file for tqdm that writes through Django's OutputWrapper without the newline it
    adds to every write (which turned each redraw of a bar into a new line)."""

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()


class PhaseBars:
    """One progress bar per phase of a job ("Embedding images", "Building the index" ...):
    a phase's bar counts its own unit and closes with its own total when the next starts."""

    def __init__(self, out: OutputWrapper) -> None:
        self.file = _Raw(out)
        self.bar: tqdm[Any] | None = None
        self.phase = ""

    def __call__(self, done: int, total: int, message: str = "") -> None:
        phase = message or self.phase or "Working"
        if self.bar is None or phase != self.phase:
            self.close()
            self.phase = phase
            unit = "img" if "image" in phase.lower() else "step"
            self.bar = tqdm(total=total, unit=unit, desc=phase, file=self.file, dynamic_ncols=True,
                            mininterval=0.5, leave=True)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
