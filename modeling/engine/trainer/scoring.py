"""Score a whole pool with a trained model, streaming it in row chunks.

The hidden layers run in bfloat16 (this CPU has AVX512-BF16: ~5x the fp32 matmul
rate, and the float16 -> bfloat16 cast is cheaper than float16 -> float32); the output
layer runs in float32 so that logits are not rounded to bf16's 8 bits and rankings
keep their order. ``precision="fp32"`` gives the plain reference path. A pool given as
:class:`Int8Features` streams half the bytes and casts int8 -> bf16 exactly.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np
import torch

from modeling.engine.errors import DimensionMismatchError
from modeling.engine.int8 import Int8Features
from modeling.engine.trainer.model import Layers, TrainedModel
from modeling.engine.trainer.streaming import advise_rows, as_tensor, iter_row_chunks, release_rows

Precision = Literal["bf16", "fp32"]
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_ROWS = 16_384


def score_pool(
    model: TrainedModel,
    pool_features: np.ndarray | Int8Features,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    *,
    precision: Precision = "bf16",
) -> np.ndarray:
    """Probabilities (N,) float32 for every row of ``pool_features`` (N, d).

    ``pool_features`` may be a float16/float32 memmap or an :class:`Int8Features` copy;
    only ``chunk_rows`` rows are converted at a time. ``progress(rows_done, N)`` is
    called after every chunk.
    """
    n_rows, dim = pool_features.shape
    if dim != model.input_dim or len(pool_features.shape) != 2:
        raise DimensionMismatchError(f"model expects (N, {model.input_dim}) pool features, got {pool_features.shape}")
    layers = _layers_for(model, precision)
    out = np.empty(n_rows, dtype=np.float32)
    with torch.inference_mode():
        for start, stop, logits in _chunk_logits(pool_features, layers, precision, chunk_rows):
            out[start:stop] = torch.sigmoid(logits).numpy()
            if progress is not None:
                progress(stop, n_rows)
    return out


def _chunk_logits(
    pool: np.ndarray | Int8Features, layers: Layers, precision: Precision, chunk_rows: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(start, stop, logits (stop - start,))`` per chunk of the pool."""
    if isinstance(pool, Int8Features):
        for start in range(0, pool.shape[0], chunk_rows):
            stop = min(start + chunk_rows, pool.shape[0])
            advise_rows(pool.codes, stop, stop + chunk_rows, mmap.MADV_WILLNEED)
            codes = as_tensor(pool.codes[start:stop])
            scales = torch.from_numpy(pool.scales[start:stop])
            yield start, stop, score_chunk(codes, layers, precision, row_scales=scales)
            release_rows(pool.codes, max(0, start - chunk_rows), stop)  # see iter_row_chunks
        return
    for start, stop, rows in iter_row_chunks(pool, chunk_rows):
        yield start, stop, score_chunk(rows, layers, precision)


def _layers_for(model: TrainedModel, precision: Precision) -> Layers:
    """Folded layers, hidden ones cast once to the compute dtype; output layer float32."""
    layers = model.folded_layers()
    if precision == "fp32":
        return layers
    *hidden, output = layers
    cast = [(w.to(torch.bfloat16), b.to(torch.bfloat16)) for w, b in hidden]
    return [*cast, output]


def score_chunk(
    chunk: torch.Tensor,
    layers: Layers,
    precision: Precision,
    row_scales: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits (n,) float32 of feature rows ``chunk`` (n, d) of any dtype; with
    ``row_scales`` (n,) the rows are int8 codes and row i stands for chunk[i] * scale[i]."""
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    (w_in, b_in), *rest = layers
    # A one-layer (linear) head's only layer is the float32 output layer.
    x = chunk.to(dtype if rest else w_in.dtype)
    if row_scales is None:
        h = torch.addmm(b_in, x, w_in.T)
    else:  # (codes @ W) * s + b == (codes * s) @ W + b
        h = torch.addcmul(b_in, x @ w_in.T, row_scales.to(dtype)[:, None])
    if not rest:
        return h.to(torch.float32)[:, 0]
    h = torch.relu_(h)
    *hidden, (w_out, b_out) = rest
    for w, b in hidden:
        h = torch.relu_(torch.addmm(b, h, w.T))
    return torch.addmm(b_out, h.to(torch.float32), w_out.T)[:, 0]
