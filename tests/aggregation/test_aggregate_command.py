"""``manage.py aggregate`` through ``call_command``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .conftest import CROWD

ANSWERS = """task,worker,label
a,w1,yes
a,w2,yes
a,w3,no
b,w1,no
b,w2,no
c,w1,Don't know
d,w1,broken
d,w2,yes
"""


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(ANSWERS)
    return path


def run(*args: object, **opts: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("aggregate", *[str(a) for a in args], stdout=out, stderr=err, **opts)
    return out.getvalue(), err.getvalue()


def test_it_writes_task_label_confidence_to_a_file(answers: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "labels.csv"
    stdout, _ = run(answers, method="mv", out=str(out_path))
    rows = list(csv.DictReader(out_path.open()))
    assert [r["task"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[0] == {"task": "a", "label": "yes", "confidence": "0.666667"}
    assert rows[2] == {"task": "c", "label": "", "confidence": ""}
    assert "mv: 4 tasks, 6 votes, 3 workers, 2 classes (no, yes)" in stdout
    assert "1 tasks have no votes" in stdout
    assert "1 tasks flagged broken (>= 1 reports): d" in stdout


def test_it_writes_csv_to_stdout_and_the_summary_to_stderr(answers: Path) -> None:
    stdout, stderr = run(answers, method="dawid-skene")
    assert stdout.splitlines()[0] == "task,label,confidence"
    assert stdout.splitlines()[2].startswith("b,no,")
    assert "dawid-skene: 4 tasks" in stderr


def test_it_prints_accuracy_given_gold(tmp_path: Path) -> None:
    out_path = tmp_path / "labels.csv"
    stdout, _ = run(
        CROWD / "bluebirds" / "answers.csv",
        method="dawid-skene",
        gold=str(CROWD / "bluebirds" / "gold.csv"),
        out=str(out_path),
    )
    assert "accuracy: 0.8981 on 108 gold tasks (97 correct)" in stdout


def test_an_assessment_set_drives_accuracies_and_is_left_out_of_scoring(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    assessed = tmp_path / "assessed.csv"
    rows = (CROWD / "rte" / "gold.csv").read_text().splitlines()
    gold.write_text("\n".join(rows) + "\n")
    assessed.write_text("\n".join(rows[:161]) + "\n")  # header + 160 tasks
    stdout, _ = run(
        CROWD / "rte" / "answers.csv",
        method="gtx",
        gold=str(gold),
        assessment=str(assessed),
        out=str(tmp_path / "o.csv"),
    )
    assert "on 640 gold tasks" in stdout and "160 assessment tasks excluded" in stdout
    assert "note:" not in stdout


def test_without_assessment_gtx_says_where_accuracies_come_from(
    answers: Path, tmp_path: Path
) -> None:
    stdout, _ = run(answers, method="gtx", out=str(tmp_path / "o.csv"))
    assert "uses worker accuracies learnt by one-coin EM" in stdout


def test_it_names_the_line_of_a_malformed_csv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("task,worker,label\na,w1,yes\na,w2\n")
    with pytest.raises(
        CommandError, match=r"bad.csv, line 3: expected 3 fields \(task,worker,label\), got 2"
    ):
        run(bad, method="mv")


def test_it_names_a_missing_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("task,label\na,yes\n")
    with pytest.raises(CommandError, match="line 1: header 'task,label' lacks column"):
        run(bad, method="mv")


def test_it_rejects_an_unknown_method(answers: Path) -> None:
    with pytest.raises(CommandError, match="'wawa'.*(choose|dawid-skene)"):
        run(answers, method="wawa")


@pytest.mark.parametrize("text", ["", "task,worker,label\n"])
def test_it_rejects_an_empty_file(tmp_path: Path, text: str) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(text)
    with pytest.raises(CommandError, match="empty.csv (is empty|has a header but no rows)"):
        run(empty, method="mv")


def test_it_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.csv", method="mv")


def test_labels_named_only_in_gold_or_assessment_become_classes(
    answers: Path, tmp_path: Path
) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\na,yes\n")
    assessed = tmp_path / "assessed.csv"
    assessed.write_text("task,label\na,maybe\n")
    stdout, _ = run(answers, method="mv", gold=str(gold), out=str(tmp_path / "o.csv"))
    assert "accuracy: 1.0000 on 1 gold tasks" in stdout
    # An assessment label no worker used still becomes a class; labels come out fine.
    stdout, _ = run(answers, method="wmv", assessment=str(assessed), out=str(tmp_path / "o.csv"))
    assert "3 classes (maybe, no, yes)" in stdout
