"""``manage.py simulate`` on a tiny folder of real CIFAR-10 images, and its error messages."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from modeling.engine.encoders.paths import shared_data_dir

CLASSES = ("airplane", "cat", "ship")


def _extract(zip_path: Path, out: Path, per_class: int) -> Path:
    """The first ``per_class`` images of each of CLASSES as ``out/<class>/<file>``."""
    with zipfile.ZipFile(zip_path) as archive:
        for cls in CLASSES:
            names = sorted(
                n for n in archive.namelist() if n.startswith(f"{cls}/") and n.endswith(".jpg")
            )
            for name in names[:per_class]:
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cifar-mini")
    cifar = shared_data_dir() / "cifar10"
    return {
        "pool": _extract(cifar / "train.zip", root / "pool", 60),
        "eval": _extract(cifar / "test.zip", root / "eval", 30),
    }


@pytest.fixture(autouse=True)
def pools_dir(settings: Any, tmp_path: Path) -> None:
    settings.POOLS_DIR = tmp_path / "pools"


def _simulate(sources: dict[str, Path], *extra: str) -> str:
    out = io.StringIO()
    call_command(
        "simulate",
        "--pool",
        str(sources["pool"]),
        "--eval",
        str(sources["eval"]),
        *extra,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def test_it_simulates_the_loop_and_prints_json_last(sources: dict[str, Path]) -> None:
    text = _simulate(
        sources,
        "--concept",
        "aircraft",
        "--positive-classes",
        "airplane",
        "--rounds",
        "2",
        "--batch",
        "20",
        "--json",
    )
    lines = text.strip().splitlines()
    data = json.loads(lines[-1])
    assert set(data["zero_shot"]) == {"auc_pr", "auc_roc", "f1", "accuracy"}
    assert [r["round"] for r in data["rounds"]] == [0, 1, 2]
    first = data["rounds"][0]["labels"]
    assert [r["labels"] for r in data["rounds"]] == [first, first + 20, first + 40]
    assert 0 < first <= 100
    # Real images, real encoder: airplanes stand out among cats and ships.
    assert data["zero_shot"]["auc_pr"] > 1 / 3
    assert data["rounds"][-1]["auc_pr"] > 1 / 3
    assert any(line.strip().startswith("zero-shot") for line in lines)


def test_it_lists_the_known_classes_for_an_unknown_one(sources: dict[str, Path]) -> None:
    with pytest.raises(
        CommandError, match="unknown class.*plane.*known classes: airplane, cat, ship"
    ):
        _simulate(sources, "--concept", "plane", "--positive-classes", "plane,cat")


def test_it_says_when_the_pool_is_missing(sources: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="pool .*nowhere.*does not exist"):
        call_command(
            "simulate",
            "--pool",
            str(tmp_path / "nowhere"),
            "--eval",
            str(sources["eval"]),
            "--concept",
            "cat",
            "--positive-classes",
            "cat",
            stdout=io.StringIO(),
        )


def test_it_rejects_an_unknown_strategy(sources: dict[str, Path]) -> None:
    with pytest.raises(CommandError, match="unknown strategy 'best'; known: .*margin"):
        _simulate(sources, "--concept", "cat", "--positive-classes", "cat", "--strategy", "best")
