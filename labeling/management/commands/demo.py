"""``manage.py demo``: set up the demo and serve it on http://127.0.0.1:8000/."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from labeling.demo import ensure_demo_world


class Command(BaseCommand):
    help = ("Migrate the database, create the demo project and its people (an expert, two workers in a "
            "cohort, a manager), print their logins and serve the app with the ASGI server.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to serve on (default 8000).")
        parser.add_argument("--no-serve", action="store_true", help="Set everything up, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Preparing the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        world = ensure_demo_world()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\nDemo project: {world.project.name}"))
        self.stdout.write(f"Open {url} and log in as:")
        for username, password, role in world.logins:
            self.stdout.write(f"  {role:<8} {username:<9} password: {password}")
        self.stdout.write(f"API docs: {url}api/docs/    (Ctrl+C stops the server)\n")
        if not options["no_serve"]:
            self._serve(options["host"], options["port"])

    def _serve(self, host: str, port: int) -> None:
        from daphne.cli import CommandLineInterface

        CommandLineInterface().run(["-b", host, "-p", str(port), "config.asgi:application"])
