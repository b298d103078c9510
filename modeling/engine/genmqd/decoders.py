"""Which decoder describes x* for a given encoder (the factory the studio and benchmarks use)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from modeling.engine.genmqd.describe import Decoder, ImageNetDecoder, PhraseBankDecoder

_cache: dict[tuple[str, tuple[str, ...]], Decoder] = {}
_lock = threading.Lock()


def imagenet_head() -> tuple[np.ndarray, np.ndarray]:
    """EfficientNet-Lite0's classifier layer: weight (1000, 1280) and bias (1000,) float32.

    The offline encoder's stored ``features`` are this layer's input (pooled, pre-logits),
    so ``features @ weight.T + bias`` reproduces the stored ``logits``.
    """
    from modeling.engine.encoders.effnet import load_efficientnet_lite0

    layer = load_efficientnet_lite0().get_classifier()  # type: ignore[operator]
    weight = layer.weight.detach().float().numpy().copy()
    bias = layer.bias.detach().float().numpy().copy()
    return weight, bias


def imagenet_names() -> tuple[list[str], list[str]]:
    """First WordNet lemma and gloss of each ImageNet-1k class, in the classifier's order."""
    from modeling.engine.encoders.conse import imagenet_wordnet

    lemmas, glosses = imagenet_wordnet()
    return [lemma.split(",")[0].strip() for lemma in lemmas], list(glosses)


def phrase_bank(extra: Sequence[str] = ()) -> list[str]:
    """The default bank: every ImageNet class's first lemma, then ``extra`` (the concept's
    phrases), without repeats."""
    lemmas, _ = imagenet_names()
    return list(dict.fromkeys([*lemmas, *(p.strip() for p in extra if p.strip())]))


def decoder_for(encoder: Any, extra_phrases: Sequence[str] = (), reference: np.ndarray | None = None) -> Decoder | None:
    """The decoder for x* in ``encoder``'s classifier-feature space, or None when there is
    no way from those features to words (separate features without an image-text model:
    GenMQD-Fea still gathers by x* itself).

    Offline encoder: :class:`ImageNetDecoder` (exact grounding through its own classifier).
    An encoder whose features are its shared-space vectors (open_clip; minilm; precomputed
    vectors with a text encoder): :class:`PhraseBankDecoder` over :func:`phrase_bank`.
    ``reference`` (d,): the pool's mean features, which the ImageNet decoder contrasts with.
    Built once per encoder key and phrase list (the bank costs one text-encoding pass).
    """
    from modeling.engine.encoders.offline import OfflineEncoder

    key = (str(getattr(encoder, "key", id(encoder))), tuple(extra_phrases))
    with _lock:
        decoder: Decoder | None = _cache.get(key)
        if isinstance(decoder, ImageNetDecoder):
            return decoder.with_reference(reference)
        if decoder is not None:
            return decoder
        if isinstance(encoder, OfflineEncoder):
            weight, bias = imagenet_head()
            lemmas, glosses = imagenet_names()
            decoder = ImageNetDecoder(weight, bias, lemmas, glosses, encoder.class_vectors())
            _cache[key] = decoder
            return decoder.with_reference(reference)
        elif getattr(encoder, "feature_dim", None) == getattr(encoder, "dim", 0) and hasattr(encoder, "encode_texts"):
            texts = phrase_bank(extra_phrases)
            vectors = np.asarray(encoder.encode_texts(texts), dtype=np.float32)
            if vectors.shape[0] == len(texts):
                decoder = PhraseBankDecoder(texts, vectors)
        if decoder is not None:
            _cache[key] = decoder
        return decoder
