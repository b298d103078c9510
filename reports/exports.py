"""Exports of a concept, as files other tools read as they are.

- answers: ``task,worker,label`` CSV, one row per live yes/no crowd answer (don't-know and
  broken answers are not votes and are left out): crowd-kit's aggregators and
  ``pandas.read_csv`` take it unchanged. ``task`` is the item id, ``worker`` the username,
  ``label`` ``yes`` or ``no``.
- labels: every label of the concept (expert and aggregated), CSV or JSONL, with
  ``item, key, value, posterior_yes, n_answers, method, source, confidence``.
- worker accuracies: the crowd-quality table of ``aggregation.quality`` as CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from aggregation.quality import VOTES, crowd_answers, worker_quality
from labeling.models import Concept, Label

LABEL_FIELDS = ["item", "key", "value", "posterior_yes", "n_answers", "method", "source", "confidence"]
WORKER_FIELDS = ["worker", "username", "cohort", "cohort_name", "status", "gold_answered", "gold_correct",
                 "accuracy", "accuracy_low", "accuracy_high", "answers", "median_seconds", "dont_know_rate",
                 "broken_rate", "agreement", "agreement_compared"]


def _csv(fields: list[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})
    return out.getvalue()


def answers_csv(concept: Concept) -> str:
    rows = ({"task": a["item"], "worker": a["username"], "label": a["value"]}
            for a in crowd_answers(concept) if a["value"] in VOTES)
    return _csv(["task", "worker", "label"], rows)


def label_rows(concept: Concept) -> list[dict[str, Any]]:
    labels = Label.objects.filter(concept=concept).select_related("item").order_by("item_id", "source")
    return [{"item": label.item_id, "key": label.item.key, "value": label.value,
             "posterior_yes": label.posterior_yes, "n_answers": label.n_answers,
             "method": label.method, "source": label.source, "confidence": label.confidence}
            for label in labels]


def labels_csv(concept: Concept) -> str:
    rows = ({**row, "value": int(row["value"])} for row in label_rows(concept))
    return _csv(LABEL_FIELDS, rows)


def labels_jsonl(concept: Concept) -> str:
    return "".join(json.dumps(row) + "\n" for row in label_rows(concept))


def worker_accuracies_csv(concept: Concept) -> str:
    return _csv(WORKER_FIELDS, worker_quality(concept))
