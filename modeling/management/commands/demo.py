"""``manage.py demo``: set up the demo on real images and serve it on http://127.0.0.1:8000/."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from jobs.recovery import recover_orphans
from labeling.demo import ensure_demo_world
from modeling.demo import ensure_demo_concept, ensure_demo_pool


class Command(BaseCommand):
    help = ("Migrate the database; create the demo project and its people (an expert, two workers in a cohort, "
            "a manager); embed 2,000 real textile images with the offline encoder (progress bar; cached after the "
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
        self.stdout.write(f"Open {url}/ and log in as:")
        for username, password, role in world.logins:
            self.stdout.write(f"  {role:<8} {username:<9} password: {password}")
        self.stdout.write(f"The expert's studio: {url}{studio}\nAPI docs: {url}/api/docs/    (Ctrl+C stops)\n")
        if not options["no_serve"]:
            from daphne.cli import CommandLineInterface

            CommandLineInterface().run(["-b", options["host"], "-p", str(options["port"]), "config.asgi:application"])

    def _pool_and_concept(self, project: Any) -> str:
        expert = get_user_model().objects.get(username="expert")
        with tqdm(total=0, unit="img", desc="Embedding textile images", file=self.stdout) as bar:
            def observe(done: int, total: int, message: str = "") -> None:
                bar.total = total
                bar.set_description(message or bar.desc)
                bar.n = done
                bar.refresh()

            try:
                pool = ensure_demo_pool(project, expert, observe)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        concept, batch = ensure_demo_concept(project, expert, pool)
        self.stdout.write(f"Pool {pool.name!r}: {pool.items.count()} images; concept {concept.name!r}: "
                          f"{batch.assignments.count()} images waiting to be rated.")
        self._crowd(project, expert, concept, pool)
        return f"/concepts/{concept.pk}/studio/"

    def _crowd(self, project: Any, expert: Any, concept: Any, pool: Any) -> None:
        """A crowd batch answered by simulated workers through the API's services, and one
        left open for the demo's two workers."""
        from aggregation.demo import ensure_demo_crowd
        from labeling.models import Cohort

        people = Cohort.objects.get(project=project, name="Demo cohort")
        with tqdm(total=None, unit="answer", desc="Headless crowd answering", file=self.stdout) as bar:
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
