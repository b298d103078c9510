"""``manage.py aggregate ANSWERS.csv --method M [--gold G] [--assessment A] [--out O]``

Aggregates a ``task,worker,label`` CSV with one engine method and writes
``task,label,confidence`` (labels spelled as in the input). See docs/aggregation.md.

ASSESSED.csv (``--assessment``) is ``task,label``: expert labels for some tasks (an
assessment set). Worker accuracies for wmv/sv/gtx are computed from the answers to
those tasks (Beta(1, 1) posterior mean; workers without an assessed answer get the
cohort mean); the EM methods clamp those tasks to the expert label in every
iteration; every method outputs the expert label with confidence 1 for them.
Without ``--assessment``, wmv/sv/gtx use accuracies learnt by one-coin EM on the same
answers (a note says so). ``--gold`` is only for scoring: accuracy is printed over
the gold tasks that are not in the assessment set.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aggregation.engine import (
    DEFAULT_METHOD,
    METHODS,
    AggregationError,
    AnswerKinds,
    EncodedAnswers,
    aggregate,
    read_answers_csv,
    read_labels_csv,
)


class Command(BaseCommand):
    help = "Aggregate crowd answers (task,worker,label CSV) into task,label,confidence."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("answers", help="ANSWERS.csv with a task,worker,label header")
        parser.add_argument(
            "--method", default=DEFAULT_METHOD, choices=sorted(METHODS), help=f"default {DEFAULT_METHOD}"
        )
        parser.add_argument("--gold", help="GOLD.csv (task,label): print accuracy against it")
        parser.add_argument(
            "--assessment", help="ASSESSED.csv (task,label): expert labels for some tasks"
        )
        parser.add_argument("--out", help="LABELS.csv to write (default: standard output)")
        parser.add_argument("--seed", type=int, default=0, help="tie-breaking seed")
        parser.add_argument(
            "--broken-threshold",
            type=int,
            default=1,
            help="broken-image reports that flag a task (default 1)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            self._run(opts)
        except AggregationError as exc:
            raise CommandError(str(exc)) from None

    def _run(self, opts: dict[str, Any]) -> None:
        gold = read_labels_csv(_path(opts["gold"])) if opts["gold"] else {}
        assessed = read_labels_csv(_path(opts["assessment"])) if opts["assessment"] else {}
        kinds = AnswerKinds(broken_threshold=opts["broken_threshold"])
        encoded = read_answers_csv(
            _path(opts["answers"]),
            kinds=kinds,
            classes=set(gold.values()) | set(assessed.values()),
        )
        vector = encoded.gold_vector(assessed, "assessment") if assessed else None
        method = opts["method"]
        result = aggregate(method, encoded.answers, gold=vector, seed=opts["seed"])
        rows = _rows(encoded, result.labels, result.confidence, result.n_votes)
        to_file = bool(opts["out"])
        report = self.stdout if to_file else self.stderr
        if to_file:
            with open(opts["out"], "w", newline="", encoding="utf-8") as handle:
                _write(handle, rows)
        else:
            _write(self.stdout, rows)
        self._summary(report, encoded, method, rows, bool(assessed), result.n_votes)
        if gold:
            report.write(_accuracy(rows, gold, set(assessed)))

    def _summary(
        self,
        out: Any,
        enc: EncodedAnswers,
        method: str,
        rows: list[list[str]],
        assessed: bool,
        n_votes: Any,
    ) -> None:
        a = enc.answers
        out.write(
            f"{method}: {a.n_tasks} tasks, {a.n_answers} votes, {a.n_workers} workers, "
            f"{a.n_classes} classes ({', '.join(enc.classes)})"
        )
        if METHODS[method].needs_accuracies and not assessed:
            out.write(
                f"note: no --assessment, so {method} uses worker accuracies learnt by one-coin EM"
            )
        empty = int((n_votes == 0).sum())
        if empty:
            out.write(
                f"{empty} tasks have no votes (only Don't know / Broken): written with an empty label"
            )
        flagged = [t for t, f in zip(enc.task_ids, enc.flagged) if f]
        if flagged:
            shown = ", ".join(flagged[:10]) + (" ..." if len(flagged) > 10 else "")
            out.write(
                f"{len(flagged)} tasks flagged broken (>= {enc.broken_threshold} reports): {shown}"
            )


def _path(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise CommandError(f"{name}: no such file")
    return path


def _rows(enc: EncodedAnswers, labels: Any, confidence: Any, n_votes: Any) -> list[list[str]]:
    out = []
    for task, y, c, n in zip(enc.task_ids, labels, confidence, n_votes):
        out.append([task, enc.classes[int(y)], f"{float(c):.6f}"] if n > 0 else [task, "", ""])
    return out


def _write(stream: TextIO | Any, rows: list[list[str]]) -> None:
    """Write the CSV in one piece; ending in a newline stops Django's OutputWrapper
    from adding one of its own."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "label", "confidence"])
    writer.writerows(rows)
    stream.write(buffer.getvalue())


def _accuracy(rows: list[list[str]], gold: dict[str, str], assessed: set[str]) -> str:
    scored = [(r[1], gold[r[0]]) for r in rows if r[0] in gold and r[0] not in assessed]
    if not scored:
        return "accuracy: no gold task to score (gold tasks absent or all in the assessment set)"
    hits = sum(label == truth for label, truth in scored)
    note = f", {len(assessed & set(gold))} assessment tasks excluded" if assessed else ""
    return f"accuracy: {hits / len(scored):.4f} on {len(scored)} gold tasks ({hits} correct{note})"
