"""``manage.py embed``: a store from a pool, a cached second run, clear errors, no tracebacks."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from modeling.engine.store import EmbeddingStore
from tests.modeling.conftest import unit_rows


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    root = tmp_path / "pool"
    for i, colour in enumerate(("red", "green", "blue")):
        (root / colour).mkdir(parents=True)
        Image.new("RGB", (8, 8), colour).save(root / colour / f"{i}.png")
    (root / "red" / "broken.png").write_bytes(b"not a png")
    keys = ["blue/2.png", "green/1.png", "red/0.png"]
    np.save(tmp_path / "vectors.npy", unit_rows(np.random.default_rng(0), 3, 8))
    (tmp_path / "ids.txt").write_text("\n".join(keys))
    return root


def _embed(*args: str) -> str:
    out = StringIO()
    call_command("embed", *args, stdout=out, stderr=StringIO(), verbosity=0)
    return out.getvalue()


def test_it_embeds_a_pool_then_serves_it_from_the_cache(pool: Path, tmp_path: Path) -> None:
    common = ["--encoder", "precomputed", "--vectors", str(tmp_path / "vectors.npy"),
              "--ids", str(tmp_path / "ids.txt"), "--cache-dir", str(tmp_path / "cache")]
    first = _embed(str(pool), "--out", str(tmp_path / "a"), *common)
    assert "3 images embedded" in first and "1 image skipped" in first and "red/broken.png" in first
    assert EmbeddingStore.open(tmp_path / "a").keys == ["blue/2.png", "green/1.png", "red/0.png"]
    second = _embed(str(pool), "--out", str(tmp_path / "b"), *common)
    assert "3 images from cache" in second


def test_it_defaults_the_output_to_the_cache(pool: Path, tmp_path: Path) -> None:
    output = _embed(str(pool), "--encoder", "precomputed", "--vectors", str(tmp_path / "vectors.npy"),
                    "--ids", str(tmp_path / "ids.txt"), "--cache-dir", str(tmp_path / "cache"))
    done = next(line for line in output.splitlines() if "images embedded" in line)
    store_path = Path(done.split("→ ")[-1].strip())
    assert store_path.is_relative_to(tmp_path / "cache") and len(EmbeddingStore.open(store_path)) == 3


def test_it_keeps_an_int8_copy_when_asked(pool: Path, tmp_path: Path) -> None:
    common = ["--encoder", "precomputed", "--vectors", str(tmp_path / "vectors.npy"),
              "--ids", str(tmp_path / "ids.txt"), "--cache-dir", str(tmp_path / "cache")]
    plain = _embed(str(pool), "--out", str(tmp_path / "plain"), *common)
    assert "int8 copy" not in plain and EmbeddingStore.open(tmp_path / "plain").int8() is None
    output = _embed(str(pool), "--out", str(tmp_path / "small"), "--int8", *common)
    assert "int8 copy of: vectors" in output  # precomputed vectors are their own features
    store = EmbeddingStore.open(tmp_path / "small")
    copy = store.int8()
    assert copy is not None and copy.shape == (3, 8)
    np.testing.assert_allclose(copy.dequantize(), store.features.astype(np.float32), atol=1 / 127)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing"], "does not exist"),
        (["{tmp}/ids.txt"], "neither a folder nor a .zip"),
        (["{tmp}/pool/red/broken.png"], "neither a folder nor a .zip"),
        (["{pool}", "--encoder", "clip9000"], "known encoders: offline, minilm, open_clip, precomputed"),
        (["{pool}", "--encoder", "precomputed"], "needs --vectors"),
        (["{pool}", "--checkpoint", "x.pt"], "--checkpoint do(es) not apply"),
        (["{pool}", "--encoder", "open_clip", "--checkpoint", "{tmp}/none.pt"], "does not exist"),
        (["{pool}", "--batch-size", "0"], "at least 1"),
    ],
)
def test_it_explains_bad_input_without_a_traceback(
    pool: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    filled = [a.format(tmp=tmp_path, pool=pool) for a in args]
    with pytest.raises(CommandError) as caught:
        _embed(*filled, "--cache-dir", str(tmp_path / "cache"))
    assert message in str(caught.value)


def test_it_rejects_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="holds no images"):
        _embed(str(tmp_path / "empty"))
