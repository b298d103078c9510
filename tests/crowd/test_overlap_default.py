"""The initial overlap a crowd batch gets when the request names none: 2 for the evaluation
sample (one answer per item leaves a good cohort's posteriors overconfident and the
posterior-based intervals short of 90 % coverage), 1 for training batches; a request's own
overlap always wins, and the default never passes kappa."""

from __future__ import annotations

from typing import Any

import pytest

from aggregation.models import Collection
from modeling import crowd_views
from modeling.crowd import EVALUATION_OVERLAP
from modeling.crowd_views import CrowdBatchInput
from tests.crowd.steps import build_gold, send_to_crowd
from tests.crowd.world import CrowdWorld


def overlap_of(body: dict[str, Any]) -> int:
    serializer = CrowdBatchInput(data={"cohort": 1, **body})
    assert serializer.is_valid(), serializer.errors
    return serializer.to_settings().overlap


def test_the_evaluation_default_is_two_and_training_keeps_one() -> None:
    assert EVALUATION_OVERLAP == 2
    assert overlap_of({"source": "evaluation", "pool": 1}) == 2
    for source in ("batch", "uncertain", "random", "items"):
        assert overlap_of({"source": source}) == 1, source
    assert overlap_of({}) == 1  # source defaults to batch


def test_a_given_overlap_wins_and_the_default_never_passes_kappa() -> None:
    assert overlap_of({"source": "evaluation", "pool": 1, "overlap": 1}) == 1
    assert overlap_of({"source": "evaluation", "pool": 1, "overlap": 3}) == 3
    assert overlap_of({"source": "items", "overlap": 2}) == 2
    assert overlap_of({"source": "evaluation", "pool": 1, "kappa": 1}) == 1
    too_many = CrowdBatchInput(data={"cohort": 1, "source": "evaluation", "overlap": 3, "kappa": 2})
    assert not too_many.is_valid() and "overlap" in too_many.errors


@pytest.mark.parametrize(("given", "expected"), [({}, 2), ({"overlap": 1}, 1), ({"overlap": 3}, 3)])
def test_the_api_applies_it_to_an_evaluation_batch(api: Any, crowd: CrowdWorld, monkeypatch: Any,
                                                   given: dict[str, Any], expected: int) -> None:
    # The sample's items are drawn elsewhere (tests/reports/test_crowd_evaluation.py, on a
    # real pool); here the view is given the items so only the settings are under test.
    monkeypatch.setattr(crowd_views, "crowd_items", lambda *args, **kwargs: [i.pk for i in crowd.work])
    body = send_to_crowd(api, crowd, build_gold(api, crowd), source="evaluation", pool=crowd.pool.pk, items=[],
                         **given)
    assert body["overlap"] == expected
    collection = Collection.objects.get(batch_id=body["batch"])
    assert collection.overlap == expected and collection.batch.selection == "evaluation"


def test_the_api_keeps_one_for_a_training_batch(api: Any, crowd: CrowdWorld) -> None:
    body = send_to_crowd(api, crowd, build_gold(api, crowd))
    assert body["overlap"] == 1 and Collection.objects.get(batch_id=body["batch"]).overlap == 1
