"""Job functions of the crowd side: re-aggregating a whole crowd batch.

The live step aggregates one item at a time with a closed-form method. A re-aggregation
runs any engine method (Dawid-Skene and one-coin EM among them) over every answer of the
batch at once, the gold items clamped to the expert's labels, and writes each item's
label with a new decision record: the earlier decisions stay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aggregation.engine import Answers, aggregate, get_method
from aggregation.live import YES, write_decision
from aggregation.models import Collection, CollectionItem
from aggregation.skills import accuracies
from jobs.models import Job
from jobs.registry import Reporter, job
from labeling.choices import AnswerValue
from labeling.models import Answer

WRITE_EVERY = 200


@job("reaggregate")
def reaggregate(job_row: Job, progress: Reporter) -> dict[str, Any]:
    collection = Collection.objects.select_related("batch__concept").get(batch_id=job_row.params["batch"])
    method = job_row.params.get("method", "dawid-skene")
    get_method(method)  # an unknown method fails the job with the list of known ones
    items = list(collection.items.order_by("position").values_list("pk", "item_id", "is_gold", "expected"))
    code = {item_id: i for i, (_, item_id, _, _) in enumerate(items)}
    rows = list(Answer.objects.filter(assignment__batch_id=collection.batch_id, retracted_at__isnull=True,
                                      value__in=(AnswerValue.YES, AnswerValue.NO))
                .order_by("id").values_list("id", "worker_id", "assignment__item_id", "value"))
    progress(0, len(items), f"Aggregating {len(rows)} answers with {method}")
    workers = sorted({w for _, w, _, _ in rows})
    worker_code = {w: j for j, w in enumerate(workers)}
    answers = Answers.from_arrays(
        np.array([code[i] for _, _, i, _ in rows], dtype=np.int64),
        np.array([worker_code[w] for _, w, _, _ in rows], dtype=np.int64),
        np.array([YES if v == AnswerValue.YES else 0 for _, _, _, v in rows], dtype=np.int64),
        n_tasks=len(items), n_workers=len(workers), n_classes=2)
    gold = np.array([int(expected) if is_gold else -1 for _, _, is_gold, expected in items], dtype=np.int64)
    known = accuracies(collection.batch.concept_id, workers, collection.batch.cohort_id)
    spec = get_method(method)
    acc = np.array([known[w] for w in workers], dtype=np.float64) if spec.needs_accuracies else None
    result = aggregate(method, answers, accuracies=acc, gold=gold if (gold >= 0).any() else None,
                       seed=collection.seed)
    by_item: dict[int, list[dict[str, Any]]] = {}
    for answer_id, worker, item_id, value in rows:
        entry = {"answer": answer_id, "worker": worker, "value": value}
        if acc is not None:
            entry["accuracy"] = round(float(known[worker]), 6)
        elif result.skills is not None:
            entry["skill"] = round(float(result.skills[worker_code[worker]]), 6)
        by_item.setdefault(item_id, []).append(entry)
    written = 0
    for index, (pk, item_id, is_gold, _) in enumerate(items):
        if is_gold or item_id not in by_item:
            continue
        p_yes = float(result.posteriors[index, YES])
        citem = CollectionItem.objects.get(pk=pk)
        write_decision(collection, citem, method, p_yes, bool(result.labels[index] == YES),
                       len(by_item[item_id]), "reaggregated", by_item[item_id], job=job_row)
        CollectionItem.objects.filter(pk=pk).update(posterior_yes=p_yes)
        written += 1
        if written % WRITE_EVERY == 0:
            progress(index + 1, len(items), "Writing labels")
    progress(len(items), len(items), "Labels written")
    return {"batch": collection.batch_id, "method": method, "answers": len(rows), "labels": written,
            "converged": bool(result.converged), "iterations": int(result.n_iter)}
