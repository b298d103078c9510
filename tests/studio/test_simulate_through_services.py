"""``manage.py simulate --through-services``: the loop headless through the studio's services."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from modeling.models import ModelVersion


def test_it_prints_rounds_and_json_from_the_services(db: Any, studio_settings: Any, cifar_folder: Path) -> None:
    out = StringIO()
    call_command("simulate", "--pool", str(cifar_folder), "--eval", str(cifar_folder), "--concept", "airplane",
                 "--positive-classes", "airplane", "--rounds", "1", "--batch", "10", "--through-services", "--json",
                 stdout=out)
    lines = out.getvalue().strip().splitlines()
    result = json.loads(lines[-1])
    assert [r["round"] for r in result["rounds"]] == [0, 1] and [r["labels"] for r in result["rounds"]] == [10, 20]
    assert set(result["zero_shot"]) == {"auc_pr", "auc_roc", "f1", "accuracy"}
    assert any(line.strip().startswith("round 1") for line in lines)
    assert ModelVersion.objects.count() == 2


def test_it_names_an_unknown_class(db: Any, studio_settings: Any, cifar_folder: Path) -> None:
    with pytest.raises(CommandError, match="zebra"):
        call_command("simulate", "--pool", str(cifar_folder), "--eval", str(cifar_folder), "--concept", "z",
                     "--positive-classes", "zebra", "--through-services", stdout=StringIO())
