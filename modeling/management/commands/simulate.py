"""``manage.py simulate``: the whole agile loop with a simulated expert, on image folders.

The pool and the evaluation set are folders or zips of ``<class>/<file>`` images. The
class folder is the simulated rater's answer and is never shown to the model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from modeling.engine.active import STRATEGIES
from modeling.engine.embedding import EmbedResult, embed_source
from modeling.engine.encoders import Encoder, available_encoders, create_encoder
from modeling.engine.errors import ModelingError
from modeling.engine.images import list_images
from modeling.engine.metrics import Estimate
from modeling.engine.simulation import (
    ConceptVectors,
    EvaluationArrays,
    LabelRater,
    PoolArrays,
    RoundResult,
    SimulationConfig,
    SimulationResult,
    class_truth,
    phrases_from_classes,
    run_simulation,
)
from modeling.engine.zero_shot import calibration_for, concept_phrases

METRICS = ("auc_pr", "auc_roc", "f1", "accuracy")


def _csv(values: list[str] | None) -> list[str]:
    """Comma-separated values from a repeatable option, stripped, empties dropped."""
    return [v.strip() for group in values or [] for v in group.split(",") if v.strip()]


@functools.lru_cache(maxsize=2)
def _encoder(name: str) -> Encoder:
    # One load per process: the offline encoder's weights take seconds to read.
    return create_encoder(name)


class Command(BaseCommand):
    help = (
        "Simulate an expert building a concept: phrase expansion, rating 100 items, the "
        "first model, then active-learning rounds, with AUC-PR / AUC-ROC / F1 / accuracy "
        "of zero-shot and of every round on the evaluation set. Pool and evaluation are "
        "folders or zips of <class>/<file> images; the classes answer for the expert."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--pool",
            required=True,
            type=Path,
            help="unlabelled pool: folder or zip of <class>/<file>",
        )
        parser.add_argument(
            "--eval",
            required=True,
            type=Path,
            help="evaluation set: folder or zip of <class>/<file>",
        )
        parser.add_argument("--concept", required=True, help="the concept's name, e.g. 'vehicle'")
        parser.add_argument(
            "--positive-classes",
            required=True,
            action="append",
            help="comma-separated classes the simulated expert calls positive",
        )
        parser.add_argument(
            "--positive-phrases",
            action="append",
            help="comma-separated phrases (default: the positive class names)",
        )
        parser.add_argument("--negative-phrases", action="append", help="comma-separated phrases")
        parser.add_argument(
            "--strategy", default="margin", help=f"one of {', '.join(sorted(STRATEGIES))}"
        )
        parser.add_argument(
            "--rounds", type=int, default=5, help="active-learning rounds after round 0"
        )
        parser.add_argument("--batch", type=int, default=100, help="items rated per round")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--error-rate",
            type=float,
            default=0.0,
            help="probability the simulated rater flips an answer (a crowd rater)",
        )
        parser.add_argument(
            "--encoder", default="offline", help=f"one of {', '.join(available_encoders())}"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the result as JSON on the last line"
        )
        parser.add_argument(
            "--through-services",
            action="store_true",
            help="run the loop through the studio's own jobs and answer service, in the configured "
            "database, as a new project with a simulated expert (offline encoder)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["through_services"]:
            self._through_services(options)
            return
        try:
            result = self._run(options)
        except ModelingError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.to_json()))

    def _through_services(self, options: dict[str, Any]) -> None:
        from modeling.headless import HeadlessConfig, run_through_services

        self._config(options)  # the same checks of strategy, rounds, batch and error rate
        positives = _csv(options["positive_classes"])
        try:
            class_truth(self._check_sources(options["pool"], options["eval"], positives), positives)
        except ModelingError as exc:
            raise CommandError(str(exc)) from exc
        config = HeadlessConfig(
            pool=options["pool"].resolve(), eval=options["eval"].resolve(), concept=options["concept"],
            positive_classes=positives,
            positive_phrases=_csv(options["positive_phrases"]) or phrases_from_classes(positives),
            negative_phrases=_csv(options["negative_phrases"]), strategy=options["strategy"],
            rounds=options["rounds"], batch=options["batch"], seed=options["seed"],
            error_rate=options["error_rate"],
        )
        bars: dict[str, tqdm[Any]] = {}

        def observe(label: str) -> Any:
            def report(done: int, total: int, message: str = "") -> None:
                bar = bars.setdefault(label, tqdm(total=total, desc=label, file=sys.stderr, leave=False))
                bar.total, bar.n = total, done
                bar.refresh()

            return report

        try:
            result = run_through_services(config, observe)
        except (ModelingError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(f"{'':>9} {'labels':>6} " + " ".join(f"{m:>9}" for m in METRICS))
        for name, labels, metrics in [("zero-shot", 0, result["zero_shot"])] + [
            (f"round {r['round']}", r["labels"], r) for r in result["rounds"]
        ]:
            self.stdout.write(f"{name:>9} {labels:>6} " + " ".join(f"{metrics[m]:>9.3f}" for m in METRICS))
        if options["json"]:
            self.stdout.write(json.dumps({"zero_shot": result["zero_shot"], "rounds": result["rounds"]}))

    def _run(self, options: dict[str, Any]) -> SimulationResult:
        config = self._config(options)
        positives = _csv(options["positive_classes"])
        pool_labels = self._check_sources(options["pool"], options["eval"], positives)
        class_truth(pool_labels, positives)  # fail on a typo before loading any model
        encoder = _encoder(options["encoder"])
        pool = self._embed(options["pool"], encoder, options["encoder"], "pool")
        evaluation = self._embed(options["eval"], encoder, options["encoder"], "eval")
        phrases = _csv(options["positive_phrases"]) or phrases_from_classes(positives)
        concept = ConceptVectors(
            encoder.encode_texts(concept_phrases(options["concept"], phrases)),
            _encode_or_empty(encoder, _csv(options["negative_phrases"])),
        )
        rater = LabelRater(
            class_truth(pool.labels, positives),
            options["error_rate"],
            np.random.default_rng([options["seed"], 99]),
        )
        eval_truth = class_truth(evaluation.labels, positives).astype(np.int64)
        self._header(options, phrases, len(pool.store), len(evaluation.store))
        return run_simulation(
            _arrays(pool),
            EvaluationArrays(_arrays(evaluation), eval_truth),
            concept,
            rater,
            calibration_for(options["encoder"]),
            config,
            on_round=self._print_round,
            on_zero_shot=lambda metrics: self._row("zero-shot", "0", "cosine", metrics),
        )

    def _config(self, options: dict[str, Any]) -> SimulationConfig:
        if options["strategy"] not in STRATEGIES:
            raise CommandError(
                f"unknown strategy {options['strategy']!r}; known: {', '.join(sorted(STRATEGIES))}"
            )
        if options["encoder"] not in available_encoders():
            raise CommandError(
                f"unknown encoder {options['encoder']!r}; known: {', '.join(available_encoders())}"
            )
        if options["rounds"] < 0 or options["batch"] < 1 or not 0 <= options["error_rate"] < 0.5:
            raise CommandError("--rounds must be >= 0, --batch >= 1 and --error-rate in [0, 0.5)")
        return SimulationConfig(
            strategy=options["strategy"],
            rounds=options["rounds"],
            batch=options["batch"],
            seed=options["seed"],
            n_boot=200,
        )

    def _check_sources(
        self, pool: Path, evaluation: Path, positives: list[str]
    ) -> list[str | None]:
        for name, path in (("pool", pool), ("evaluation set", evaluation)):
            if not path.exists():
                raise CommandError(
                    f"{name} {str(path)!r} does not exist (a folder or zip of <class>/<file> images)"
                )
        if not positives:
            raise CommandError("--positive-classes needs at least one class")
        return [ref.label for ref in list_images(pool)]

    def _embed(self, source: Path, encoder: Encoder, encoder_name: str, what: str) -> EmbedResult:
        # One working store per (source path, encoder); the content-addressed cache under
        # var/cache makes a second run of the same images a link, not a re-embedding.
        tag = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
        out_dir = Path(settings.POOLS_DIR) / "simulate" / f"{source.stem}-{tag}-{encoder_name}"
        bar = tqdm(desc=f"embedding {what}", unit="img", file=sys.stderr, leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            return embed_source(source, encoder, out_dir, progress=progress)
        finally:
            bar.close()

    def _header(
        self, options: dict[str, Any], phrases: list[str], n_pool: int, n_eval: int
    ) -> None:
        self.stdout.write(
            f"concept {options['concept']!r}  phrases {phrases}  pool {n_pool}  eval {n_eval}  "
            f"strategy {options['strategy']}  batch {options['batch']}  seed {options['seed']}"
        )
        self.stdout.write(
            f"{'round':>9} {'labels':>6} {'model':>16} " + " ".join(f"{m:>20}" for m in METRICS)
        )

    def _print_round(self, r: RoundResult) -> None:
        self._row(str(r.round), str(r.labels), r.model, r.metrics)

    def _row(self, name: str, labels: str, model: str, metrics: dict[str, Estimate]) -> None:
        cells = " ".join(f"{_fmt(metrics[m]):>20}" for m in METRICS)
        self.stdout.write(f"{name:>9} {labels:>6} {model:>16} {cells}")


def _fmt(e: Estimate) -> str:
    return f"{e.value:.3f} [{e.low:.3f},{e.high:.3f}]" if np.isfinite(e.value) else "n/a"


def _encode_or_empty(encoder: Encoder, phrases: list[str]) -> np.ndarray:
    return encoder.encode_texts(phrases) if phrases else np.zeros((0, encoder.dim), np.float32)


def _arrays(result: EmbedResult) -> PoolArrays:
    return PoolArrays(np.asarray(result.store.vectors), np.asarray(result.store.features))
