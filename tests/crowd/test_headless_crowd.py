"""The headless crowd (``manage.py crowd``): simulated workers through the API's services."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from aggregation.models import CollectionItem, WorkerSkill
from labeling.choices import LabelSource
from labeling.models import Label
from tests.crowd.steps import build_gold, send_to_crowd
from tests.crowd.world import CrowdWorld


def test_it_answers_a_batch_and_labels_every_item(api: Any, crowd: CrowdWorld) -> None:
    batch = send_to_crowd(api, crowd, build_gold(api, crowd), onboarding=4, kappa=5)["batch"]
    out = io.StringIO()
    call_command("crowd", str(batch), "--positive-classes", "yes", "--workers", "5", "--accuracy", "0.85,1.0",
                 stdout=out, stderr=io.StringIO())
    items = CollectionItem.objects.filter(collection__batch_id=batch, is_gold=False)
    assert all(i.status == "done" for i in items)
    labels = Label.objects.filter(concept=crowd.concept, source=LabelSource.AGGREGATED)
    assert labels.count() == len(crowd.work)
    right = sum(label.value == crowd.truth[label.item_id] for label in labels)
    assert right >= len(crowd.work) - 2  # accurate workers, GTX at tau .95
    skills = WorkerSkill.objects.filter(worker__username__startswith=f"crowd-{batch}-")
    assert skills.count() == 5 and all(s.gold_answered >= 4 for s in skills)
    assert f"Batch {batch}: {len(crowd.work)} of {len(crowd.work)} items done" in out.getvalue()


def test_it_explains_bad_arguments(crowd: CrowdWorld) -> None:
    with pytest.raises(CommandError, match="No crowd batch 999"):
        call_command("crowd", "999", "--positive-classes", "yes")
    with pytest.raises(CommandError, match="LOW,HIGH"):
        call_command("crowd", "1", "--positive-classes", "yes", "--accuracy", "high")
