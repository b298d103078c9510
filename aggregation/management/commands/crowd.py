"""``manage.py crowd BATCH``: a headless crowd answers a crowd batch through the API."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from aggregation.headless import (
    HttpTransport,
    ServiceTransport,
    SimulatedWorker,
    accuracies,
    enlist,
    run_crowd,
    truth_from_folders,
)
from aggregation.models import Collection
from aggregation.progress import collection_progress
from labeling.models import Batch


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--accuracy takes LOW,HIGH (e.g. 0.8,1.0), got {text!r}") from None
    if not 0 <= low <= high <= 1:
        raise CommandError(f"--accuracy needs 0 <= LOW <= HIGH <= 1, got {text!r}")
    return low, high


class Command(BaseCommand):
    help = ("Simulated workers answer a crowd batch through the same API the task page uses: they are added "
            "to the batch's cohort, pull their next task, answer it (right with their accuracy, drawn from "
            "U(LOW, HIGH); the truth is each item's class folder) and get re-asked, until no one has work. "
            "Prints the batch's progress and the workers' accuracies at the end.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch", type=int, help="The crowd batch to answer.")
        parser.add_argument("--positive-classes", required=True,
                            help="Comma-separated class folders that show the concept (e.g. local,global).")
        parser.add_argument("--workers", type=int, default=6, help="How many simulated workers (default 6).")
        parser.add_argument("--accuracy", type=_range, default=(0.8, 1.0),
                            help="LOW,HIGH: accuracies drawn from U(LOW, HIGH) (default 0.8,1.0).")
        parser.add_argument("--dont-know", type=float, default=0.0, help="Share of 'don't know' answers.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--prefix", default=None, help="Usernames are PREFIX-01 … (default crowd-<batch>).")
        parser.add_argument("--url", default=None,
                            help="Answer over HTTP against a running server at this URL (token auth); "
                                 "default: in this process, through the API's services.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch = Batch.objects.select_related("concept__project", "cohort").filter(pk=options["batch"]).first()
        if batch is None or not Collection.objects.filter(batch=batch).exists():
            raise CommandError(f"No crowd batch {options['batch']} (make one in the studio or with "
                               "POST /api/concepts/{id}/crowd-batches/).")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        rng = np.random.default_rng(options["seed"])
        people = enlist(batch.concept.project, batch.cohort, options["workers"],
                        options["prefix"] or f"crowd-{batch.pk}")
        skill = accuracies(len(people), *options["accuracy"], rng)
        workers = [SimulatedWorker(user.username, float(a), self._transport(user, options["url"]),
                                   np.random.default_rng([options["seed"], i]), options["dont_know"])
                   for i, (user, a) in enumerate(zip(people, skill))]
        truth = truth_from_folders(p.strip() for p in options["positive_classes"].split(",") if p.strip())
        with tqdm(desc="Crowd answers", unit="answer", file=self.stderr) as bar:
            run = run_crowd(batch.pk, workers, truth, progress=lambda n: bar.update(n - bar.n))
        progress = collection_progress(batch.collection)
        self.stdout.write(f"Batch {batch.pk}: {progress['done']} of {progress['items']} items done, "
                          f"{progress['work_answers']} work answers + {progress['gold_answers']} on golds "
                          f"({progress['answers_per_done_item']} per finished item).")
        for worker in workers:
            self.stdout.write(f"  {worker.name}: true accuracy {worker.accuracy:.2f}, {worker.answered} answers, "
                              f"ended {run.last_status[worker.name]}")

    @staticmethod
    def _transport(user: Any, url: str | None) -> Any:
        if url is None:
            return ServiceTransport(user)
        from rest_framework.authtoken.models import Token

        return HttpTransport(url, Token.objects.get(user=user).key)
