"""Scoring paths: every path agrees with fp32 on any head, the choice is measured and
remembered, an approximate path that strays falls back to fp32, streaming maps nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine import kernels
from modeling.engine.trainer import (
    Int8Features,
    TrainedModel,
    later_config,
    plan_scoring,
    quantize_int8,
    score_pool,
    scoring,
)
from modeling.engine.trainer.model import forward_layers
from modeling.engine.trainer.paths import CODE_SHIFT, Int8Layer, available, shift_codes
from modeling.engine.trainer.streaming import gather_rows, iter_row_chunks, read_rows
from tests.modeling.memory import resident_kb


@pytest.fixture(autouse=True)
def _own_kernel_cache(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("AGILE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernels, "_memo", {})


def model_with(hidden: tuple[int, ...], dim: int = 24, seed: int = 0) -> TrainedModel:
    """A model of random weights (no training: scoring only reads the layers)."""
    gen = torch.Generator().manual_seed(seed)
    widths = [dim, *hidden, 1]
    layers = tuple((torch.randn(o, i, generator=gen) * (2 / i) ** 0.5, torch.randn(o, generator=gen) * 0.1)  # He
                   for i, o in zip(widths[:-1], widths[1:]))
    # Unit rows of width d have components ~1/sqrt(d): the standardisation scales them up.
    return TrainedModel(later_config(hidden=hidden), dim, torch.zeros(dim), torch.full((dim,), dim**-0.5), layers)


def unit_rows(n: int, dim: int = 24, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize("hidden", [(), (16,), (128, 128, 128), (7, 5)])
def test_it_gets_the_same_probabilities_on_every_path_for_any_head(hidden: tuple[int, ...], tmp_path: Path) -> None:
    model, pool = model_with(hidden), unit_rows(3_000)
    exact = torch.sigmoid(forward_layers(torch.from_numpy(pool.astype(np.float32)), model.folded_layers())).numpy()
    copy = quantize_int8(pool, tmp_path / "int8")
    for path in available():
        for source in (pool, copy):
            np.testing.assert_allclose(score_pool(model, source, precision=path), exact, atol=0.05,
                                       err_msg=f"{path} from {type(source).__name__}")
    np.testing.assert_allclose(score_pool(model, pool, precision="fp32"), exact, atol=1e-5)


@given(st.lists(st.integers(1, 40), max_size=3), st.integers(1, 700), st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_it_scores_the_same_in_any_chunking(hidden: list[int], chunk: int, seed: int) -> None:
    model, pool = model_with(tuple(hidden), seed=seed), unit_rows(1_500, seed=seed)
    for path in available():
        whole = score_pool(model, pool, precision=path)
        np.testing.assert_allclose(score_pool(model, pool, chunk_rows=chunk, precision=path), whole,
                                   rtol=1e-4, atol=1e-6)


def test_it_scores_a_small_pool_in_fp32_without_measuring() -> None:
    plan = plan_scoring(model_with((16,)), unit_rows(500))
    assert plan.path == "fp32" and "small pool" in plan.how
    assert kernels.recorded("score-pool/float16/24-16-1") is None


def test_it_measures_the_paths_once_and_remembers_the_choice(tmp_path: Path) -> None:
    model, pool = model_with((32, 32)), unit_rows(20_000)
    np.save(tmp_path / "pool.npy", pool)
    mapped = np.load(tmp_path / "pool.npy", mmap_mode="r")
    first = plan_scoring(model, mapped, calibrate_min_rows=0)
    record = kernels.recorded("score-pool/float16/24-32-32-1")
    assert record is not None and set(record["seconds"]) == set(available())  # type: ignore[arg-type]
    assert first.path == record["choice"] and first.how == "measured"
    assert first.describe()["measured_seconds"] == record["seconds"]
    kernels._memo.clear()  # a new process: the file answers
    again = plan_scoring(model, mapped, calibrate_min_rows=0)
    assert (again.path, again.chunk_rows, again.prefetch, again.how) == (
        first.path, first.chunk_rows, first.prefetch, "cached")
    np.testing.assert_allclose(again.score(mapped), score_pool(model, pool, precision="fp32"), atol=0.05)


def test_it_falls_back_to_fp32_when_a_path_strays_from_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(kernels, "choose", lambda name, candidates, **kw: "int8" if "reading" not in name else "4096")
    monkeypatch.setattr(scoring, "TOLERANCE", 0.0)
    plan = plan_scoring(model_with((16,)), unit_rows(2_000), calibrate_min_rows=0)
    assert plan.path == "fp32" and "int8 was" in plan.how and plan.max_error is not None
    assert plan.describe()["path"] == "fp32"


@pytest.mark.skipif("int8" not in available(), reason="oneDNN int8 kernels missing from this torch build")
def test_it_multiplies_int8_exactly_even_where_avx2_would_saturate() -> None:
    # All-largest inputs and weights: 8-bit weights overflow vpmaddubsw's int16 pairs.
    weight = torch.full((8, 64), 0.5)
    layer = Int8Layer.of(weight, torch.zeros(8), 4)
    for codes in (torch.full((4, 64), 127, dtype=torch.int8), torch.full((4, 64), -127, dtype=torch.int8)):
        got = layer(shift_codes(codes), 1.0, bias=False, relu=False, x_zero=CODE_SHIFT)
        np.testing.assert_allclose(got.numpy(), (codes.float() @ weight.T).numpy(), rtol=1e-6)
    unsigned = torch.full((4, 64), 255, dtype=torch.uint8)
    got = layer(unsigned, 1.0, bias=False, relu=False)
    np.testing.assert_allclose(got.numpy(), (unsigned.float() @ weight.T).numpy(), rtol=1e-6)


def test_it_shifts_int8_codes_to_unsigned_bytes_at_zero_point_128() -> None:
    codes = torch.arange(-128, 128, dtype=torch.int16).to(torch.int8)
    assert torch.equal(shift_codes(codes).to(torch.int16) - CODE_SHIFT, codes.to(torch.int16))


def test_it_checks_the_approximate_path_on_rows_it_did_not_calibrate_on() -> None:
    pool = np.arange(40_000, dtype=np.float32)[:, None].repeat(3, axis=1)  # row i holds i
    sample, check = scoring._samples(pool)
    assert len(sample) == len(check) == scoring.SAMPLE_BLOCKS // 2 * scoring.SAMPLE_BLOCK
    calibrated, checked = set(sample.rows[:, 0].tolist()), set(check.rows[:, 0].tolist())
    assert not calibrated & checked and max(checked) > 30_000 and min(calibrated) == 0


@pytest.mark.parametrize("prefetch", [False, True])
def test_it_streams_files_and_slices_of_them_exactly(tmp_path: Path, prefetch: bool) -> None:
    pool = unit_rows(1_000, dim=7)
    np.save(tmp_path / "pool.npy", pool)
    mapped = np.load(tmp_path / "pool.npy", mmap_mode="r")
    for array in (mapped, mapped[13:900], pool, mapped[:0], mapped[:1]):
        chunks = [rows.numpy().copy() for _, _, rows in iter_row_chunks(array, 64, prefetch=prefetch)]
        got = np.concatenate(chunks) if chunks else np.zeros((0, 7), np.float16)
        np.testing.assert_array_equal(got, np.asarray(array))
    rows = np.array([0, 1, 2, 9, 500, 501, 999])
    np.testing.assert_array_equal(gather_rows(mapped, rows), pool[rows])
    np.testing.assert_array_equal(read_rows(mapped[5:], 10, 20), pool[15:25])


def test_it_scores_a_pool_without_mapping_any_of_it(tmp_path: Path) -> None:
    model, pool = model_with((16,), dim=64), unit_rows(60_000, dim=64)
    np.save(tmp_path / "pool.npy", pool)
    copy = quantize_int8(pool, tmp_path / "int8")
    del copy
    mapped = np.load(tmp_path / "pool.npy", mmap_mode="r")
    loaded = Int8Features.load(tmp_path / "int8")
    for source in (mapped, loaded):
        for path in available():
            score_pool(model, source, precision=path, chunk_rows=4_096)
    assert resident_kb(tmp_path / "pool.npy") == 0 and resident_kb(tmp_path / "int8" / "codes.int8.npy") == 0
    np.asarray(mapped).sum()  # a plain full read maps every page: the check bites
    assert resident_kb(tmp_path / "pool.npy") > 7_000

