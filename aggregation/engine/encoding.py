"""CSV / arbitrary ids <-> integer codes, with answer-kind filtering.

Answers CSV: a header naming the columns ``task,worker,label`` (any order, extra
columns ignored, names case-insensitive), then one answer per line. Labels CSV (gold,
assessment): header ``task,label``.

* "Don't know" answers (``AnswerKinds.dont_know``, matched case-insensitively) are not
  votes; they are counted per task. A task whose answers are all "Don't know" still gets
  a task code (and later a uniform posterior).
* "Broken image" reports (``AnswerKinds.broken``) are not votes either; a task with at
  least ``broken_threshold`` reports is flagged.
* A worker who answers the same task twice: the later answer replaces the earlier one.
* Codes: classes, tasks and workers are each sorted (numerically when every value is an
  integer, else as text), so codes do not depend on row order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EmptyAnswersError, InvalidAnswersError, MalformedCSVError
from .types import AggregationResult, Answers, BoolArray, IntArray

DONT_KNOW = frozenset({"dont_know", "don't know", "dont know", "dontknow", "dk", "unknown", "?"})
BROKEN = frozenset({"broken", "broken image", "broken_image", "broken-image"})


@dataclass(frozen=True)
class AnswerKinds:
    """Which label values are not votes, and when a task counts as broken."""

    dont_know: frozenset[str] = DONT_KNOW
    broken: frozenset[str] = BROKEN
    broken_threshold: int = 1

    def kind(self, label: str) -> str:
        """'dont_know', 'broken' or 'vote'."""
        low = label.strip().lower()
        if low in self.dont_know:
            return "dont_know"
        if low in self.broken:
            return "broken"
        return "vote"


@dataclass(frozen=True, repr=False)
class EncodedAnswers:
    """Coded answers plus the tables that map codes back to the input's values."""

    answers: Answers
    task_ids: tuple[str, ...]
    worker_ids: tuple[str, ...]
    classes: tuple[str, ...]
    dont_know: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # (n_tasks,)
    broken: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # (n_tasks,)
    broken_threshold: int = 1

    @property
    def flagged(self) -> BoolArray:
        """(n_tasks,) tasks with at least ``broken_threshold`` broken reports."""
        out: BoolArray = self.broken >= self.broken_threshold
        return out

    def task_codes(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.task_ids)}

    def class_codes(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def gold_vector(self, labels: dict[str, str], source: str = "gold") -> IntArray:
        """(n_tasks,) class codes of ``labels`` (task id -> label), -1 elsewhere. Tasks
        absent from the answers are ignored; a label outside ``classes`` is an error."""
        codes, tasks = self.class_codes(), self.task_codes()
        out = np.full(len(self.task_ids), -1, dtype=np.int64)
        for task, label in labels.items():
            if label not in codes:
                raise InvalidAnswersError(
                    f"{source}: label {label!r} of task {task!r} is not a known class"
                )
            if task in tasks:
                out[tasks[task]] = codes[label]
        return out

    def decode(self, result: AggregationResult) -> list[tuple[str, str, float]]:
        """(task id, label as in the input, confidence) for every task."""
        return [
            (t, self.classes[int(y)], float(c))
            for t, y, c in zip(self.task_ids, result.labels, result.confidence)
        ]

    def __repr__(self) -> str:
        return (
            f"EncodedAnswers({self.answers!r}, classes={list(self.classes)}, "
            f"dont_know={int(self.dont_know.sum())}, flagged={int(self.flagged.sum())})"
        )


def _sorted_unique(values: Iterable[str]) -> tuple[str, ...]:
    uniq = set(values)
    try:
        return tuple(sorted(uniq, key=int))
    except ValueError:
        return tuple(sorted(uniq))


def _codes(values: Sequence[str], table: tuple[str, ...]) -> IntArray:
    index = {v: i for i, v in enumerate(table)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def encode(
    rows: Iterable[tuple[str, str, str]],
    *,
    kinds: AnswerKinds = AnswerKinds(),
    classes: Iterable[str] = (),
) -> EncodedAnswers:
    """Code (task, worker, label) triples. ``classes`` adds label values that must get
    a code even if no worker used them (e.g. the labels of the gold file)."""
    tasks: list[str] = []
    workers: list[str] = []
    labels: list[str] = []
    kind: list[str] = []
    for task, worker, label in rows:
        tasks.append(task)
        workers.append(worker)
        labels.append(label)
        kind.append(kinds.kind(label))
    kind_arr = np.array(kind, dtype=object)
    vote = kind_arr == "vote"
    task_ids = _sorted_unique(tasks)
    class_ids = _sorted_unique([lab for lab, v in zip(labels, vote) if v] + list(classes))
    t = _codes(tasks, task_ids)
    worker_ids = _sorted_unique(w for w, v in zip(workers, vote) if v)
    n = len(task_ids)
    dont_know = np.bincount(t[kind_arr == "dont_know"], minlength=n).astype(np.int64)
    broken = np.bincount(t[kind_arr == "broken"], minlength=n).astype(np.int64)
    vote_workers = [w for w, v in zip(workers, vote) if v]
    w = _codes(vote_workers, worker_ids)
    y = _codes([lab for lab, v in zip(labels, vote) if v], class_ids)
    t, w, y = _keep_last(t[vote], w, y, len(worker_ids))
    answers = Answers.from_arrays(
        t, w, y, n_tasks=n, n_workers=len(worker_ids), n_classes=max(len(class_ids), 1)
    )
    return EncodedAnswers(
        answers, task_ids, worker_ids, class_ids, dont_know, broken, kinds.broken_threshold
    )


def _keep_last(
    t: IntArray, w: IntArray, y: IntArray, n_workers: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Drop all but the last answer of each (task, worker) pair, keeping row order."""
    if t.size == 0:
        return t, w, y
    pair = t * max(n_workers, 1) + w
    _, first_in_reversed = np.unique(pair[::-1], return_index=True)
    keep = np.sort(t.size - 1 - first_in_reversed)
    return t[keep], w[keep], y[keep]


def _open(source: str | Path | io.TextIOBase) -> tuple[io.TextIOBase, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            return path.open(newline="", encoding="utf-8-sig"), path.name
        except OSError as exc:
            raise MalformedCSVError(path.name, 0, f"cannot open file ({exc.strerror})") from None
    return source, getattr(source, "name", "<stream>")


def read_csv_rows(
    source: str | Path | io.TextIOBase, columns: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """Rows of a CSV file with a header naming ``columns``; see ``read_numbered_rows``."""
    return [values for _, values in read_numbered_rows(source, columns)[1]]


def read_numbered_rows(
    source: str | Path | io.TextIOBase, columns: tuple[str, ...]
) -> tuple[str, list[tuple[int, tuple[str, ...]]]]:
    """Rows of a CSV file with a header naming ``columns`` (in any order), values
    stripped, blank lines skipped. Raises ``EmptyAnswersError`` for an empty file or
    one without data rows, ``MalformedCSVError`` naming the line otherwise."""
    handle, name = _open(source)
    with handle:
        try:
            lines = list(enumerate(csv.reader(handle), start=1))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise MalformedCSVError(name, 0, f"not a readable CSV file ({exc})") from None
    lines = [(n, row) for n, row in lines if any(cell.strip() for cell in row)]
    if not lines:
        raise EmptyAnswersError(f"{name} is empty: expected a header line {','.join(columns)}")
    header_line, header = lines[0]
    names = [h.strip().lower() for h in header]
    missing = [c for c in columns if c not in names]
    if missing:
        raise MalformedCSVError(
            name,
            header_line,
            f"header {','.join(header)!r} lacks column(s) {', '.join(missing)} "
            f"(expected {','.join(columns)})",
        )
    where = [names.index(c) for c in columns]
    out: list[tuple[int, tuple[str, ...]]] = []
    for n, row in lines[1:]:
        if len(row) != len(header):
            raise MalformedCSVError(
                name, n, f"expected {len(header)} fields ({','.join(names)}), got {len(row)}"
            )
        values = tuple(row[i].strip() for i in where)
        for col, value in zip(columns, values):
            if not value:
                raise MalformedCSVError(name, n, f"empty {col}")
        out.append((n, values))
    if not out:
        raise EmptyAnswersError(f"{name} has a header but no rows")
    return name, out


def read_answers_csv(
    source: str | Path | io.TextIOBase,
    *,
    kinds: AnswerKinds = AnswerKinds(),
    classes: Iterable[str] = (),
) -> EncodedAnswers:
    """Read and code a ``task,worker,label`` CSV file."""
    rows = read_csv_rows(source, ("task", "worker", "label"))
    encoded = encode(((r[0], r[1], r[2]) for r in rows), kinds=kinds, classes=classes)
    if encoded.answers.n_answers == 0 and not encoded.task_ids:
        raise EmptyAnswersError("no answers")
    return encoded


def read_labels_csv(source: str | Path | io.TextIOBase) -> dict[str, str]:
    """Read a ``task,label`` CSV file (gold or assessment) into {task: label}.
    The same task twice with different labels is an error."""
    name, rows = read_numbered_rows(source, ("task", "label"))
    out: dict[str, str] = {}
    for line, (task, label) in rows:
        if out.get(task, label) != label:
            raise MalformedCSVError(
                name, line, f"task {task!r} appears twice with different labels"
            )
        out[task] = label
    return out
