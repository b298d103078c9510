"""The CSV encoder: ids and labels to codes and back, Don't know / Broken, errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from aggregation.engine import (
    AnswerKinds,
    EmptyAnswersError,
    InvalidAnswersError,
    MalformedCSVError,
    aggregate,
    encode,
    read_answers_csv,
    read_labels_csv,
)

CSV = """task,worker,label
img2,ann,yes
img1,bob,no
img1,ann,yes
img3,bob,Don't know
img3,ann,DK
img4,ann,Broken image
img4,bob,broken
img4,cid,yes
"""


def test_it_codes_ids_and_labels_sorted() -> None:
    enc = read_answers_csv(io.StringIO(CSV))
    assert enc.task_ids == ("img1", "img2", "img3", "img4")
    assert enc.worker_ids == ("ann", "bob", "cid")
    assert enc.classes == ("no", "yes")
    assert enc.answers.n_answers == 4


def test_it_sorts_integer_ids_numerically() -> None:
    enc = encode([("10", "2", "1"), ("9", "10", "0"), ("100", "2", "1")])
    assert enc.task_ids == ("9", "10", "100") and enc.worker_ids == ("2", "10")


def test_dont_know_is_not_a_vote_but_keeps_the_task() -> None:
    enc = read_answers_csv(io.StringIO(CSV))
    assert list(enc.dont_know) == [0, 0, 2, 0]
    res = aggregate("mv", enc.answers)
    np.testing.assert_allclose(res.posteriors[2], 0.5)
    assert res.n_votes[2] == 0


def test_broken_reports_flag_a_task_at_the_threshold() -> None:
    assert list(read_answers_csv(io.StringIO(CSV)).flagged) == [False, False, False, True]
    enc = read_answers_csv(io.StringIO(CSV), kinds=AnswerKinds(broken_threshold=3))
    assert not enc.flagged.any() and list(enc.broken) == [0, 0, 0, 2]


def test_it_decodes_results_to_the_input_spelling() -> None:
    enc = read_answers_csv(io.StringIO(CSV))
    rows = enc.decode(aggregate("mv", enc.answers))
    assert rows[1] == ("img2", "yes", 1.0) and rows[3] == ("img4", "yes", 1.0)


def test_a_later_answer_replaces_an_earlier_one_by_the_same_worker() -> None:
    enc = encode([("t", "w", "0"), ("t", "v", "1"), ("t", "w", "1")])
    assert enc.answers.n_answers == 2
    assert sorted(enc.answers.labels.tolist()) == [1, 1]


def test_it_adds_classes_seen_only_in_gold() -> None:
    enc = encode([("t", "w", "cat")], classes={"dog"})
    assert enc.classes == ("cat", "dog") and enc.answers.n_classes == 2
    np.testing.assert_array_equal(enc.gold_vector({"t": "dog", "zzz": "cat"}), [1])
    with pytest.raises(InvalidAnswersError, match="not a known class"):
        enc.gold_vector({"t": "bird"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task,worker,label\na,b\n", "line 2: expected 3 fields"),
        ("task,worker,label\na,b,c\n\nd,e,f,g\n", "line 4: expected 3 fields"),
        ("task,label\na,b\n", "line 1: header 'task,label' lacks column"),
        ("task,worker,label\na,,c\n", "line 2: empty worker"),
    ],
)
def test_it_names_the_line_and_the_fault(text: str, message: str) -> None:
    with pytest.raises(MalformedCSVError, match=message):
        read_answers_csv(io.StringIO(text))


@pytest.mark.parametrize("text", ["", "\n\n", "task,worker,label\n"])
def test_it_rejects_an_empty_file(text: str) -> None:
    with pytest.raises(EmptyAnswersError):
        read_answers_csv(io.StringIO(text))


def test_it_accepts_columns_in_any_order_and_extra_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("Label,when,Worker,Task\nyes,1,w,t\n")
    enc = read_answers_csv(path)
    assert enc.task_ids == ("t",) and enc.classes == ("yes",)


def test_labels_csv_rejects_contradictions() -> None:
    assert read_labels_csv(io.StringIO("task,label\n1,a\n1,a\n")) == {"1": "a"}
    with pytest.raises(MalformedCSVError, match="line 3: task '1' appears twice"):
        read_labels_csv(io.StringIO("task,label\n1,a\n1,b\n"))
