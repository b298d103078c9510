"""Embedding store: appendable memmaps with an id table, crash-safe commits, chunked reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.errors import DimensionMismatchError
from modeling.engine.store import EmbeddingStore, StoreError
from tests.modeling.conftest import unit_rows


def _rows(seed: int, n: int, dim: int = 4, feature_dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return unit_rows(rng, n, dim), rng.normal(size=(n, feature_dim)).astype(np.float32)


def _keys(start: int, n: int) -> list[str]:
    return [f"img/{i:05d}.jpg" for i in range(start, start + n)]


@pytest.fixture
def store(tmp_path: Path) -> EmbeddingStore:
    return EmbeddingStore.create(tmp_path / "s", dim=4, feature_dim=6, meta={"encoder": "e1"})


def test_it_reads_back_appended_rows_after_reopening(store: EmbeddingStore) -> None:
    v1, f1 = _rows(1, 3)
    v2, f2 = _rows(2, 2)
    store.append(_keys(0, 3), v1, f1)
    store.append(_keys(3, 2), v2, f2)
    again = EmbeddingStore.open(store.path)
    assert len(again) == 5 and again.keys == _keys(0, 5)
    assert again.vectors.dtype == np.float16
    np.testing.assert_allclose(again.vectors, np.vstack([v1, v2]), atol=1e-3)
    np.testing.assert_allclose(again.features, np.vstack([f1, f2]), atol=1e-2, rtol=1e-3)
    assert again.meta == {"encoder": "e1"}


def test_it_keeps_every_field_a_valid_npy_file(store: EmbeddingStore) -> None:
    vectors, features = _rows(3, 7)
    store.append(_keys(0, 7), vectors, features)
    loaded = np.load(store.path / "features.npy", mmap_mode="r")
    assert loaded.shape == (7, 6) and loaded.dtype == np.float16
    np.testing.assert_array_equal(loaded, store.features)


def test_it_gives_read_only_memmaps(store: EmbeddingStore) -> None:
    store.append(_keys(0, 2), *_rows(4, 2))
    with pytest.raises(ValueError):
        store.vectors[0, 0] = 1.0


def test_it_streams_float32_chunks_covering_every_row(store: EmbeddingStore) -> None:
    vectors, features = _rows(5, 10)
    store.append(_keys(0, 10), vectors, features)
    chunks = list(store.iter_chunks("vectors", rows=4))
    assert [start for start, _ in chunks] == [0, 4, 8]
    assert all(chunk.dtype == np.float32 for _, chunk in chunks)
    np.testing.assert_array_equal(np.vstack([c for _, c in chunks]), store.vectors.astype(np.float32))


def test_it_stores_extra_fields(tmp_path: Path) -> None:
    store = EmbeddingStore.create(tmp_path / "s", 4, 6, extra_fields={"logits": 3})
    logits = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.append(_keys(0, 2), *_rows(6, 2), extras={"logits": logits})
    np.testing.assert_array_equal(EmbeddingStore.open(store.path).field("logits"), logits)
    with pytest.raises(StoreError, match="missing the 'logits' field"):
        store.append(_keys(2, 1), *_rows(7, 1))


def test_it_reads_features_from_the_vectors_when_they_are_the_same(tmp_path: Path) -> None:
    store = EmbeddingStore.create(tmp_path / "s", 4, 4, features_are_vectors=True)
    vectors, _ = _rows(8, 3)
    store.append(_keys(0, 3), vectors)
    assert not (store.path / "features.npy").exists()
    np.testing.assert_array_equal(store.features, store.vectors)


def test_it_ignores_a_torn_tail_left_by_a_crashed_writer(store: EmbeddingStore) -> None:
    vectors, features = _rows(9, 3)
    store.append(_keys(0, 3), vectors, features)
    # A writer that died mid-append: rows and keys written, commit never replaced.
    with open(store.path / "vectors.npy", "ab") as handle:
        handle.write(b"\x00" * 13)
    with open(store.path / "keys.txt", "a") as handle:
        handle.write("torn/key.jpg\n")
    reader = EmbeddingStore.open(store.path)
    assert len(reader) == 3 and reader.keys == _keys(0, 3)
    more_v, more_f = _rows(10, 2)
    reader.append(_keys(3, 2), more_v, more_f)
    final = EmbeddingStore.open(store.path)
    assert final.keys == _keys(0, 5)
    np.testing.assert_allclose(final.vectors, np.vstack([vectors, more_v]), atol=1e-3)
    assert np.load(store.path / "vectors.npy").shape == (5, 4)


def test_it_shows_a_reader_new_rows_only_after_refresh(store: EmbeddingStore) -> None:
    store.append(_keys(0, 2), *_rows(11, 2))
    reader = EmbeddingStore.open(store.path)
    store.append(_keys(2, 2), *_rows(12, 2))
    assert len(reader) == 2 and reader.vectors.shape == (2, 4)
    reader.refresh()
    assert len(reader) == 4 and reader.keys == _keys(0, 4)


@pytest.mark.parametrize(
    ("vectors", "features", "error"),
    [
        (np.zeros((2, 5)), np.zeros((2, 6)), DimensionMismatchError),
        (np.zeros((2, 4)), np.zeros((3, 6)), DimensionMismatchError),
        (np.full((2, 4), np.nan), np.zeros((2, 6)), StoreError),
    ],
)
def test_it_refuses_malformed_rows(
    store: EmbeddingStore, vectors: np.ndarray, features: np.ndarray, error: type[Exception]
) -> None:
    with pytest.raises(error):
        store.append(_keys(0, 2), vectors, features)
    assert len(EmbeddingStore.open(store.path)) == 0


def test_it_refuses_duplicate_and_multiline_keys(store: EmbeddingStore) -> None:
    store.append(_keys(0, 2), *_rows(13, 2))
    with pytest.raises(StoreError, match="unique"):
        store.append(_keys(1, 2), *_rows(14, 2))
    with pytest.raises(StoreError, match="line breaks"):
        store.append(["a\nb"], *_rows(15, 1))
    assert len(EmbeddingStore.open(store.path)) == 2


def test_it_refuses_to_create_over_files_or_open_nothing(store: EmbeddingStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not empty"):
        EmbeddingStore.create(store.path, 4, 6)
    with pytest.raises(StoreError, match="no embedding store"):
        EmbeddingStore.open(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="dtype"):
        EmbeddingStore.create(tmp_path / "x", 4, 6, dtype="int4")


def test_it_stores_float32_when_asked(tmp_path: Path) -> None:
    store = EmbeddingStore.create(tmp_path / "s", 4, 6, dtype="float32")
    vectors, features = _rows(16, 2)
    store.append(_keys(0, 2), vectors, features)
    np.testing.assert_array_equal(EmbeddingStore.open(store.path).vectors, vectors)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=9), max_size=6))
def test_it_equals_the_concatenation_of_any_sequence_of_appends(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int]
) -> None:
    store = EmbeddingStore.create(tmp_path_factory.mktemp("p") / "s", 3, 2, dtype="float32")
    parts, start = [], 0
    for seed, size in enumerate(sizes):
        vectors, features = _rows(seed, size, 3, 2)
        store.append(_keys(start, size), vectors, features)
        parts.append(vectors)
        start += size
    reopened = EmbeddingStore.open(store.path)
    assert reopened.keys == _keys(0, start)
    expected = np.vstack(parts) if parts else np.zeros((0, 3), np.float32)
    np.testing.assert_array_equal(reopened.vectors, expected)


def test_it_keeps_an_int8_copy_of_the_features_in_step_with_appends(store: EmbeddingStore) -> None:
    vectors, features = _rows(20, 5)
    store.append(_keys(0, 5), vectors, features)
    assert store.int8() is None and store.scoring_features() is store.features
    done: list[int] = []
    store.add_int8("features", chunk_rows=2, progress=lambda rows, total: done.append(rows))
    assert done == [2, 4, 5]
    more_vectors, more_features = _rows(21, 3)
    store.append(_keys(5, 3), more_vectors, more_features)
    reopened = EmbeddingStore.open(store.path)
    copy = reopened.int8("features")
    assert copy is not None and copy.shape == (8, 6) and copy.codes.dtype == np.int8
    assert reopened.int8_fields == ["features"] and reopened.int8("vectors") is None
    assert reopened.scoring_features() is not reopened.features
    floats = reopened.features.astype(np.float32)
    # Each element within half a code step (max|row| / 254) of the float16 value.
    step = np.abs(floats).max(axis=1, keepdims=True) / 127
    assert (np.abs(copy.dequantize() - floats) <= step / 2 + 1e-6).all()
    for name in ("features.int8.npy", "features.scale.npy"):
        assert np.load(reopened.path / name, mmap_mode="r").shape[0] == 8


def test_an_int8_copy_survives_a_torn_append(store: EmbeddingStore) -> None:
    store.append(_keys(0, 4), *_rows(22, 4))
    store.add_int8()
    store.add_int8()  # a second call is a no-op
    with open(store.path / "features.int8.npy", "ab") as handle:
        handle.write(b"\x7f" * 9)  # a crashed writer's partial rows
    store.append(_keys(4, 2), *_rows(23, 2))
    copy = EmbeddingStore.open(store.path).int8()
    assert copy is not None
    expected = np.vstack([_rows(22, 4)[1], _rows(23, 2)[1]]).astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(copy.dequantize(), expected, atol=np.abs(expected).max() / 127)


def test_an_int8_copy_of_aliased_features_copies_the_vectors(tmp_path: Path) -> None:
    store = EmbeddingStore.create(tmp_path / "s", 4, 4, features_are_vectors=True)
    store.add_int8("features")  # an empty store: the copy starts empty
    vectors, _ = _rows(24, 3)
    store.append(_keys(0, 3), vectors)
    copy = store.int8("features")
    assert store.int8_fields == ["vectors"] and copy is not None and copy.shape == (3, 4)
    np.testing.assert_allclose(copy.dequantize(), vectors, atol=1 / 127)
    with pytest.raises(StoreError, match="no field"):
        store.add_int8("logits")
