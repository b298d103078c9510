"""Vectors supplied with the pool: a ``.npy`` matrix plus an id table, checked on load.

Checks: a 2-D float matrix (float16/32/64), as many rows as ids, unique non-empty ids,
finite values, and unit-norm rows (within 1e-2; ``normalize=True`` rescales instead,
but all-zero rows are always refused). Optional ``features`` (same ids, any width) feed
the classifier; without them the vectors are the features. Texts need an encoder of the
same space: pass ``text_encoder`` (e.g. "minilm" for vectors made by MiniLM).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from modeling.engine.encoders.base import (
    EncodedBatch,
    Encoder,
    EncoderCapabilityError,
    PrecomputedVectorsError,
    Progress,
    l2_normalize,
)

NORM_TOLERANCE = 1e-2
FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def _load_matrix(path: Path, what: str) -> np.ndarray:
    try:
        matrix: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PrecomputedVectorsError(f"cannot read {what} file {path}: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise PrecomputedVectorsError(f"{what} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if matrix.dtype.type not in FLOAT_DTYPES:
        raise PrecomputedVectorsError(f"{what} must be float16/32/64, got {matrix.dtype}")
    return matrix


def _load_ids(path: Path, rows: int) -> list[str]:
    try:
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise PrecomputedVectorsError(f"cannot read id table {path}: {exc}") from exc
    ids = [i for i in ids if i]
    if len(ids) != rows:
        raise PrecomputedVectorsError(f"id table {path} has {len(ids)} ids for {rows} vectors")
    if len(set(ids)) != len(ids):
        raise PrecomputedVectorsError(f"id table {path} repeats ids")
    return ids


def check_vectors(vectors: np.ndarray, normalize: bool) -> np.ndarray:
    """float32 copy of ``vectors`` (n, d) after the finiteness and norm checks."""
    matrix = np.asarray(vectors, dtype=np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad_rows.size:
        raise PrecomputedVectorsError(f"vectors hold NaN/inf in {bad_rows.size} rows, e.g. row {bad_rows[0]}")
    norms = np.linalg.norm(matrix, axis=1)
    if (norms < 1e-6).any():
        raise PrecomputedVectorsError(f"{int((norms < 1e-6).sum())} vectors are all zeros")
    off = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
    if off.size and not normalize:
        raise PrecomputedVectorsError(
            f"{off.size} vectors are not L2-normalised (row {off[0]} has norm {norms[off[0]]:.3f}); "
            "pass normalize=True to rescale them")
    return l2_normalize(matrix)


class PrecomputedEncoder:
    """Looks vectors up by image key instead of running a model (a KeyedEncoder)."""

    def __init__(
        self, ids: Sequence[str], vectors: np.ndarray, features: np.ndarray | None = None,
        text_encoder: Encoder | None = None, key: str = "precomputed",
    ) -> None:
        self._row = {key_: row for row, key_ in enumerate(ids)}
        self._vectors = vectors
        self._features = vectors if features is None else features
        self.features_are_vectors = features is None
        self.dim = int(vectors.shape[1])
        self.feature_dim = int(self._features.shape[1])
        self._text_encoder = text_encoder
        self.key = key
        if text_encoder is not None and text_encoder.dim != self.dim:
            raise PrecomputedVectorsError(
                f"text encoder {text_encoder.key!r} has dim {text_encoder.dim}, vectors have {self.dim}")

    @classmethod
    def from_files(
        cls, vectors: str | Path, ids: str | Path, features: str | Path | None = None,
        normalize: bool = False, text_encoder: str | None = None,
    ) -> PrecomputedEncoder:
        """Load and check ``vectors`` (.npy) with ``ids`` (.txt, one key per line)."""
        from modeling.engine.encoders import create_encoder

        raw = _load_matrix(Path(vectors), "vectors")
        id_list = _load_ids(Path(ids), raw.shape[0])
        checked = check_vectors(raw, normalize)
        feats = None
        if features is not None:
            feats = np.asarray(_load_matrix(Path(features), "features"), dtype=np.float32)
            if feats.shape[0] != checked.shape[0] or not np.isfinite(feats).all():
                raise PrecomputedVectorsError(
                    f"features must be finite with {checked.shape[0]} rows, got {feats.shape}")
        digest = hashlib.sha256(checked.tobytes() + "\n".join(id_list).encode()).hexdigest()[:16]
        texts = create_encoder(text_encoder) if text_encoder else None
        return cls(id_list, checked, feats, texts, key=f"precomputed/{digest}/d{checked.shape[1]}")

    def __repr__(self) -> str:
        return f"PrecomputedEncoder(key={self.key!r}, rows={len(self._row)}, dim={self.dim})"

    def has_key(self, key: str) -> bool:
        return key in self._row

    def encode_keys(self, keys: Sequence[str]) -> EncodedBatch:
        """The supplied rows of ``keys``; an unknown key raises PrecomputedVectorsError."""
        missing = [k for k in keys if k not in self._row]
        if missing:
            raise PrecomputedVectorsError(f"no precomputed vector for {len(missing)} keys, e.g. {missing[0]!r}")
        rows = np.array([self._row[k] for k in keys], dtype=np.int64)
        return EncodedBatch(self._vectors[rows], np.asarray(self._features[rows], np.float32))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self._text_encoder is None:
            raise EncoderCapabilityError(
                "precomputed vectors come without a text encoder; create it with "
                "text_encoder='<name of the encoder that made them>' to encode phrases")
        return self._text_encoder.encode_texts(texts)

    def encode_images(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> EncodedBatch:
        raise EncoderCapabilityError(
            "precomputed vectors are looked up by image key (embed_source does this); "
            "they cannot encode new images")
