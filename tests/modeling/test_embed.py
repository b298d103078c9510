"""embed_source: folder/zip → encoder → store, skipping bad images, resuming, caching."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modeling.engine.embedding import EmbedResult, embed_source
from modeling.engine.encoders import EncodedBatch, PrecomputedVectorsError, create_encoder
from modeling.engine.store import EmbeddingStore, StoreError
from tests.modeling.conftest import unit_rows, write_images


class ColourEncoder:
    """Test double: an image's vector is its normalised mean colour; fails on request."""

    dim = 3
    feature_dim = 2

    def __init__(self, fail_after_calls: int | None = None, key: str = "colour/v1") -> None:
        self.key = key
        self.calls = 0
        self.fail_after_calls = fail_after_calls

    def encode_images(self, images: Sequence[Image.Image], progress: object = None) -> EncodedBatch:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise RuntimeError("encoder exploded")
        self.calls += 1
        means = np.array([np.asarray(im, np.float32).reshape(-1, 3).mean(0) + 1 for im in images])
        sizes = np.array([im.size for im in images], np.float32)
        return EncodedBatch(means / np.linalg.norm(means, axis=1, keepdims=True), sizes)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 3), np.float32) / np.sqrt(3)


COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """11 images in three colour folders plus one corrupt file."""
    root = tmp_path / "pool"
    images = {f"{name}/{i:02d}.png": Image.new("RGB", (4 + i, 5), rgb)
              for name, rgb in COLOURS.items() for i in range(4 if name != "blue" else 3)}
    for key, image in images.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / key)
    (root / "green" / "zz-broken.png").write_bytes(b"\x89PNG garbage")
    return root


def _embed(pool: Path, encoder: object, out: Path, cache: Path, **kw: object) -> EmbedResult:
    return embed_source(pool, encoder, out, batch_size=3, cache_dir=cache, **kw)  # type: ignore[arg-type]


def test_it_embeds_a_folder_and_reports_the_broken_image(pool: Path, tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    result = _embed(pool, ColourEncoder(), tmp_path / "out", tmp_path / "cache",
                    progress=lambda d, t: progress.append((d, t)))
    store = result.store
    assert len(store) == 11 and store.keys == sorted(store.keys)
    assert result.skipped == [("green/zz-broken.png", "not a recognised image format")]
    assert result.labels == [k.split("/")[0] for k in store.keys]
    red = store.keys.index("red/00.png")
    np.testing.assert_allclose(store.vectors[red], [1, 0, 0], atol=1e-2)
    np.testing.assert_array_equal(store.features[red], [4, 5])
    assert store.meta["labels"] == ["blue", "green", "red"] and store.meta["complete"] is True
    assert progress[0] == (0, 12) and progress[-1] == (12, 12)


def test_it_embeds_a_zip_like_the_folder(pool: Path, tmp_path: Path) -> None:
    archive = tmp_path / "pool.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in pool.rglob("*.png"):
            out.write(path, path.relative_to(pool).as_posix())
    from_zip = _embed(archive, ColourEncoder(), tmp_path / "z", tmp_path / "cache")
    from_dir = _embed(pool, ColourEncoder(), tmp_path / "d", tmp_path / "cache")
    assert from_zip.store.keys == from_dir.store.keys
    np.testing.assert_array_equal(from_zip.store.vectors, from_dir.store.vectors)


def test_it_resumes_after_the_encoder_fails_mid_pool(pool: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exploded"):
        _embed(pool, ColourEncoder(fail_after_calls=2), tmp_path / "out", tmp_path / "cache")
    kept = EmbeddingStore.open(tmp_path / "out")
    assert len(kept) == 6 and kept.meta["complete"] is False  # two batches of three survive
    retry_encoder = ColourEncoder()
    resumed = _embed(pool, retry_encoder, tmp_path / "out", tmp_path / "cache")
    assert retry_encoder.calls == 2  # only the remaining 5 readable images, in batches of 3
    clean = _embed(pool, ColourEncoder(), tmp_path / "clean", tmp_path / "other-cache")
    assert resumed.store.keys == clean.store.keys
    np.testing.assert_array_equal(resumed.store.vectors, clean.store.vectors)
    assert resumed.skipped == clean.skipped


def test_it_serves_a_second_run_from_the_cache(pool: Path, tmp_path: Path) -> None:
    first = _embed(pool, ColourEncoder(), tmp_path / "a", tmp_path / "cache")
    again = ColourEncoder()
    second = _embed(pool, again, tmp_path / "b", tmp_path / "cache")
    assert again.calls == 0 and second.from_cache and not first.from_cache
    np.testing.assert_array_equal(second.store.features, first.store.features)
    assert second.skipped == first.skipped and second.store.path == tmp_path / "b"


def test_it_misses_the_cache_when_the_pool_or_encoder_changes(pool: Path, tmp_path: Path) -> None:
    _embed(pool, ColourEncoder(), tmp_path / "a", tmp_path / "cache")
    other_key = ColourEncoder(key="colour/v2")
    _embed(pool, other_key, tmp_path / "b", tmp_path / "cache")
    Image.new("RGB", (6, 6), (9, 9, 9)).save(pool / "red" / "09.png")
    changed = ColourEncoder()
    result = _embed(pool, changed, tmp_path / "c", tmp_path / "cache")
    assert other_key.calls > 0 and changed.calls > 0 and len(result.store) == 12


def test_it_replaces_a_finished_store_of_another_encoder(pool: Path, tmp_path: Path) -> None:
    _embed(pool, ColourEncoder(), tmp_path / "out", tmp_path / "cache")
    replaced = _embed(pool, ColourEncoder(key="colour/v2"), tmp_path / "out", tmp_path / "cache")
    assert replaced.store.meta["encoder"] == "colour/v2" and len(replaced.store) == 11
    back = ColourEncoder()
    assert _embed(pool, back, tmp_path / "out", tmp_path / "cache").from_cache and back.calls == 0


def test_it_refuses_an_out_dir_holding_an_unfinished_run_of_another_encoder(
    pool: Path, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError):
        _embed(pool, ColourEncoder(fail_after_calls=1), tmp_path / "out", tmp_path / "cache")
    with pytest.raises(StoreError, match="unfinished embedding"):
        _embed(pool, ColourEncoder(key="colour/v2"), tmp_path / "out", tmp_path / "cache")


def test_it_embeds_precomputed_vectors_by_key(pool: Path, tmp_path: Path) -> None:
    keys = ["blue/00.png", "red/01.png", "red/00.png"]
    vectors = unit_rows(np.random.default_rng(1), 3, 5)
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "ids.txt").write_text("\n".join(keys) + "\n")
    encoder = create_encoder("precomputed", vectors=tmp_path / "v.npy", ids=tmp_path / "ids.txt")
    result = _embed(pool, encoder, tmp_path / "out", tmp_path / "cache")
    assert result.store.keys == ["blue/00.png", "red/00.png", "red/01.png"]
    np.testing.assert_allclose(result.store.vectors, vectors[[0, 2, 1]], atol=1e-3)
    assert len(result.skipped) == 9
    assert ("green/00.png", "no precomputed vector for this key") in result.skipped


def test_it_embeds_real_images_with_the_offline_encoder(
    offline_encoder, cifar_images: dict[str, Image.Image], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    subset = {k: v for k, v in cifar_images.items() if k.endswith(("0000.jpg", "0097.jpg"))}
    folder = write_images(tmp_path / "cifar", subset)
    result = embed_source(folder, offline_encoder, tmp_path / "out", cache_dir=tmp_path / "cache")
    store = result.store
    assert len(store) == 20 and store.field("logits").shape == (20, 1000)
    assert store.meta["encoder"] == offline_encoder.key
    np.testing.assert_allclose(np.linalg.norm(store.vectors.astype(np.float32), axis=1), 1, atol=2e-3)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones(4, np.float32), "2-D"),
        (np.ones((2, 2), np.int64), "float16/32/64"),
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), "NaN"),
        (np.array([[3.0, 4.0], [0.0, 1.0]]), "not L2-normalised"),
        (np.array([[0.0, 0.0], [0.0, 1.0]]), "all zeros"),
    ],
)
def test_it_checks_precomputed_vectors(tmp_path: Path, matrix: np.ndarray, message: str) -> None:
    np.save(tmp_path / "v.npy", matrix)
    (tmp_path / "ids.txt").write_text("a\nb\n" if matrix.ndim == 2 else "a\n")
    with pytest.raises(PrecomputedVectorsError, match=message):
        create_encoder("precomputed", vectors=tmp_path / "v.npy", ids=tmp_path / "ids.txt")


def test_it_rescales_precomputed_vectors_on_request_and_checks_ids(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([[3.0, 4.0], [0.0, 2.0]]))
    (tmp_path / "ids.txt").write_text("a\nb\n")
    encoder = create_encoder("precomputed", vectors=tmp_path / "v.npy", ids=tmp_path / "ids.txt",
                             normalize=True)
    np.testing.assert_allclose(encoder.encode_keys(["a"]).vectors, [[0.6, 0.8]])  # type: ignore[attr-defined]
    (tmp_path / "ids.txt").write_text("a\na\n")
    with pytest.raises(PrecomputedVectorsError, match="repeats ids"):
        create_encoder("precomputed", vectors=tmp_path / "v.npy", ids=tmp_path / "ids.txt",
                       normalize=True)


class TunableEncoder(ColourEncoder):
    """Test double with stored logits: vectors = normalised (logits ** power)."""

    extra_fields = {"logits": 3}  # noqa: RUF012
    image_key = "colour-model/v1"

    def __init__(self, power: float) -> None:
        super().__init__(key=f"tunable/p{power}")
        self.power = power

    def vectors_from_logits(self, logits: np.ndarray) -> np.ndarray:
        raised = np.asarray(logits, np.float32) ** self.power
        return raised / np.linalg.norm(raised, axis=1, keepdims=True)

    def encode_images(self, images: Sequence[Image.Image], progress: object = None) -> EncodedBatch:
        plain = super().encode_images(images)
        logits = plain.vectors
        return EncodedBatch(self.vectors_from_logits(logits), plain.features, {"logits": logits})


def test_it_rederives_vectors_from_cached_logits_without_the_image_model(
    pool: Path, tmp_path: Path
) -> None:
    _embed(pool, TunableEncoder(1.0), tmp_path / "p1", tmp_path / "cache")
    retuned = TunableEncoder(3.0)
    derived = _embed(pool, retuned, tmp_path / "p3", tmp_path / "cache")
    direct = _embed(pool, TunableEncoder(3.0), tmp_path / "direct", tmp_path / "fresh-cache")
    assert retuned.calls == 0 and derived.store.meta["encoder"] == "tunable/p3.0"
    assert derived.store.keys == direct.store.keys and derived.skipped == direct.skipped
    np.testing.assert_allclose(derived.store.vectors, direct.store.vectors, atol=2e-3)


def test_it_refuses_a_second_concurrent_run_into_the_same_out_dir(pool: Path, tmp_path: Path) -> None:
    import fcntl

    from modeling.engine.embedding import RUN_LOCK

    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / RUN_LOCK, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # stands for another process's run
        with pytest.raises(StoreError, match="being embedded by another process"):
            _embed(pool, ColourEncoder(), tmp_path / "out", tmp_path / "cache")
    assert len(_embed(pool, ColourEncoder(), tmp_path / "out", tmp_path / "cache").store) == 11
