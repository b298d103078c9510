"""What every encoder is: images and texts in, L2-normalised vectors of one space out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from modeling.engine.errors import ModelingError, UnknownStrategyError

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called after each batch with counts of images."""


class UnknownEncoderError(UnknownStrategyError):
    """The encoder name is not in the registry; the message lists the known names."""


class EncoderLoadError(ModelingError):
    """An encoder's weights or configuration cannot be found or loaded."""


class EncoderCapabilityError(ModelingError):
    """The encoder cannot do what was asked (e.g. a text-only encoder given images)."""


class PrecomputedVectorsError(ModelingError):
    """Supplied vectors fail a check: shape, dtype, finiteness, norm or id table."""


@dataclass(frozen=True)
class EncodedBatch:
    """The encoding of ``n`` images.

    vectors: float32 ``(n, dim)``, L2-normalised rows in the shared image/text space.
    features: float32 ``(n, feature_dim)``, the classifier's input features.
    extras: named float32 ``(n, k)`` side matrices worth storing (the offline encoder's
        1,000 ImageNet logits, so ConSE can be retuned without re-running the image model).
    """

    vectors: np.ndarray
    features: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@runtime_checkable
class Encoder(Protocol):
    """Turns images and texts into L2-normalised vectors of one ``dim``-wide space.

    key: stable id naming every setting that changes outputs; used in cache keys.
    dim: width of the shared space (k-NN expansion, zero-shot).
    feature_dim: width of the classifier features (== dim when there are no separate ones).
    """

    key: str
    dim: int
    feature_dim: int

    def encode_images(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> EncodedBatch: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class KeyedEncoder(Protocol):
    """An encoder whose vectors come from a table by image key (precomputed pools)."""

    key: str
    dim: int
    feature_dim: int

    def has_key(self, key: str) -> bool: ...

    def encode_keys(self, keys: Sequence[str]) -> EncodedBatch: ...


@runtime_checkable
class LogitsEncoder(Protocol):
    """An encoder whose vectors are a cheap function of stored per-image logits.

    Stores of the same pool whose ``meta["image_key"]`` matches can be re-derived from their
    ``logits`` field instead of re-running the image model.
    """

    key: str
    image_key: str

    def vectors_from_logits(self, logits: np.ndarray) -> np.ndarray: ...


def l2_normalize(matrix: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 ``(n, d)``; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: np.ndarray = matrix / np.maximum(norms, eps)
    return normalized


def empty_batch(dim: int, feature_dim: int) -> EncodedBatch:
    """The encoding of zero images."""
    return EncodedBatch(np.zeros((0, dim), np.float32), np.zeros((0, feature_dim), np.float32))


def batched(count: int, batch_size: int) -> list[slice]:
    """Slices covering ``range(count)`` in steps of ``batch_size``."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
