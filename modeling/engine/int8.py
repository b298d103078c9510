"""Per-row-scaled int8 copies of feature matrices: half the bytes of float16 to stream.

Row i is stored as ``codes[i] (d,) int8`` and ``scales[i] float32`` with
``features[i] ~= codes[i] * scales[i]`` and ``scales[i] = max|features[i]| / 127``, so each
element keeps ~1/254 of its row's largest magnitude. Scoring casts codes to bfloat16
(exact for |code| <= 127) and applies the scale after the first matmul:
``W (codes * s) = (W codes) * s``.

Two ways to get one: :class:`~modeling.engine.store.EmbeddingStore` keeps an int8 copy
of a field beside the float16 one when asked (``add_int8``; every later append
extends it in the same commit), and :func:`quantize_int8` copies any matrix, e.g. a
benchmark's synthetic pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CODES_FILE = "codes.int8.npy"
SCALES_FILE = "scales.f32.npy"


@dataclass(frozen=True, eq=False)
class Int8Features:
    """codes: (N, d) int8 (may be a memmap); scales: (N,) float32."""

    codes: np.ndarray
    scales: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    def dequantize(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` back as float32 (n, d)."""
        rows = slice(start, stop)
        out: np.ndarray = np.asarray(self.codes[rows], dtype=np.float32) * self.scales[rows, None]
        return out

    @classmethod
    def load(cls, directory: Path) -> Int8Features:
        """Memory-map a copy written by :func:`quantize_int8`."""
        directory = Path(directory)
        return cls(np.load(directory / CODES_FILE, mmap_mode="r"), np.load(directory / SCALES_FILE))

    def __repr__(self) -> str:
        return f"Int8Features(rows={self.shape[0]}, dim={self.shape[1]})"


def quantize_rows(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes (n, d) int8, scales (n,) float32)`` of the rows of ``block`` (n, d).

    An all-zero row gets scale 1 and zero codes (it dequantises exactly).
    """
    rows = np.asarray(block, dtype=np.float32)
    peak = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(len(rows), np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.rint(rows / scales[:, None]).astype(np.int8)
    return codes, scales


def quantize_int8(features: np.ndarray, directory: Path | None = None, chunk_rows: int = 65_536) -> Int8Features:
    """Per-row int8 copy of ``features`` (N, d); written to ``directory`` as two .npy
    files (codes memory-mapped) when given, else held in RAM. Streams in chunks."""
    from modeling.engine.trainer.streaming import release_rows  # torch-free import of this module

    n_rows, dim = features.shape
    if directory is None:
        codes = np.empty((n_rows, dim), dtype=np.int8)
    else:
        Path(directory).mkdir(parents=True, exist_ok=True)
        codes = np.lib.format.open_memmap(Path(directory) / CODES_FILE, mode="w+", dtype=np.int8, shape=(n_rows, dim))
    scales = np.empty(n_rows, dtype=np.float32)
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        codes[start:stop], scales[start:stop] = quantize_rows(features[start:stop])
        # Pages read from a shared mapping and pages written to the copy stay in the page
        # cache; dropping their mappings keeps a 10 GB source and 5 GB copy out of RSS.
        release_rows(features, start, stop)
        release_rows(codes, max(0, start - chunk_rows), stop)
    if directory is not None:
        np.save(Path(directory) / SCALES_FILE, scales)
        codes.flush()  # type: ignore[attr-defined]
    return Int8Features(codes, scales)
