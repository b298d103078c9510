"""Score a whole pool with a trained model, streaming it in row chunks, on the kernel
path that measured fastest on this machine.

The paths (``paths.py``: fp32, bf16, int8) compute the same logits; which one is fastest
depends on the CPU (bf16 is 2-5x faster than fp32 with AVX512-BF16 and ~10x slower on
AVX2-only CPUs; int8 needs oneDNN's kernels). ``precision="auto"`` (the default) times
them once per machine, torch version, thread count and model shape on the first rows of
the pool at hand (``modeling.engine.kernels.choose``: fp32 is the reference and is only
replaced by a path at least ``MARGIN`` x faster, so the choice is never slower than plain
fp32), then the row chunk size for the winner. The choice is remembered in
``var/cache/kernels.json``. An approximate path (int8) is checked against fp32 on sample
rows for every model and replaced by fp32 past ``TOLERANCE``. :class:`ScoringPlan` says
what ran (job results report it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from modeling.engine import kernels
from modeling.engine.errors import DimensionMismatchError
from modeling.engine.int8 import Int8Features
from modeling.engine.trainer import paths
from modeling.engine.trainer.model import Layers, TrainedModel
from modeling.engine.trainer.paths import Chunk, Logits
from modeling.engine.trainer.streaming import iter_row_chunks, read_rows

Precision = Literal["auto", "fp32", "bf16", "int8"]
Progress = Callable[[int, int], None]
DEFAULT_CHUNK_ROWS = 16_384
#: Reading plans tried for the chosen path, the first the reference: rows per chunk,
#: and whether a thread reads the next chunk while this one is computed.
READ_CANDIDATES = ("16384", "4096", "16384+prefetch", "4096+prefetch")
#: Pools smaller than this are scored in fp32 without measuring: under ~1 s either way.
CALIBRATE_MIN_ROWS = 262_144
#: Rows timed per candidate path (in 4,096-row chunks), and per reading plan.
CALIBRATION_ROWS = 16_384
READ_CALIBRATION_ROWS = 32_768
#: A path replaces the fp32 reference only when at least this much faster.
MARGIN = 1.1
#: Largest |p - p_fp32| allowed to an approximate path on the check rows.
TOLERANCE = 0.05
#: Check rows: this many blocks of SAMPLE_BLOCK rows spread over the pool.
SAMPLE_BLOCKS, SAMPLE_BLOCK = 16, 512


@dataclass
class ScoringPlan:
    """A kernel path prepared for one model and one pool source.

    path: "fp32", "bf16" or "int8"; chunk_rows: rows per chunk; prefetch: a thread reads
    the next chunk meanwhile; source: what is streamed ("int8 copy", "float16", ...);
    how: why this path ("measured", "cached", ...); max_error: largest |p - p_fp32| on
    the check rows (None when not checked).
    """

    path: str
    chunk_rows: int
    source: str
    how: str
    logits: Logits = field(repr=False)
    max_error: float | None = None
    prefetch: bool = False
    workload: str | None = None

    def score(self, pool_features: np.ndarray | Int8Features, progress: Progress | None = None) -> np.ndarray:
        """Probabilities (N,) float32 of every row; ``progress(rows_done, N)`` per chunk."""
        n_rows = pool_features.shape[0]
        out = np.empty(n_rows, dtype=np.float32)
        with torch.inference_mode():
            for start, stop, chunk in iter_chunks(pool_features, self.chunk_rows, prefetch=self.prefetch):
                out[start:stop] = torch.sigmoid(self.logits(chunk)).numpy()
                if progress is not None:
                    progress(stop, n_rows)
        return out

    def describe(self) -> dict[str, object]:
        """The plan as a small JSON-able dict (for job results and logs)."""
        info: dict[str, object] = {"path": self.path, "chunk_rows": self.chunk_rows, "prefetch": self.prefetch,
                                   "source": self.source, "how": self.how}
        if self.max_error is not None:
            info["max_error"] = round(self.max_error, 5)
        measured = kernels.recorded(self.workload) if self.workload else None
        if measured:  # seconds per candidate path on the calibration rows
            info["measured_seconds"] = measured.get("seconds")
        return info


def score_pool(
    model: TrainedModel,
    pool_features: np.ndarray | Int8Features,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    *,
    precision: Precision = "auto",
) -> np.ndarray:
    """Probabilities (N,) float32 for every row of ``pool_features`` (N, d).

    ``pool_features`` may be a float16/float32 memmap or an :class:`Int8Features` copy;
    only one chunk of rows is in memory at a time. ``progress(rows_done, N)`` is called
    after every chunk. ``precision`` picks a path by name; "auto" measures (see module).
    """
    return plan_scoring(model, pool_features, precision=precision, chunk_rows=chunk_rows).score(
        pool_features, progress)


def plan_scoring(
    model: TrainedModel,
    pool_features: np.ndarray | Int8Features,
    *,
    precision: Precision = "auto",
    chunk_rows: int | None = None,
    calibrate_min_rows: int = CALIBRATE_MIN_ROWS,
    refresh: bool = False,
) -> ScoringPlan:
    """The path that scores ``pool_features`` with ``model``, prepared (see module).

    ``refresh``: measure the paths again even if this machine has a remembered choice.
    """
    n_rows, dim = _check_shape(model, pool_features)
    layers = model.folded_layers()
    source = "int8 copy" if isinstance(pool_features, Int8Features) else str(pool_features.dtype)
    sample, check = _samples(pool_features)
    if precision != "auto":
        if precision not in paths.available():
            raise ValueError(f"precision must be 'auto' or one of {paths.available()}, got {precision!r}")
        rows = chunk_rows or DEFAULT_CHUNK_ROWS
        return ScoringPlan(precision, rows, source, "asked", paths.prepare(precision, layers, sample, rows))
    if n_rows < calibrate_min_rows:
        rows = chunk_rows or DEFAULT_CHUNK_ROWS
        return ScoringPlan("fp32", rows, source, f"small pool (< {calibrate_min_rows:,} rows): not measured",
                           paths.prepare("fp32", layers, sample, rows))
    workload = f"score-pool/{source}/{'-'.join(str(w) for w in _widths(layers, dim))}"
    fresh = refresh or kernels.recorded(workload) is None
    path = kernels.choose(workload, {
        name: _timed_run(name, layers, pool_features, sample, "4096", CALIBRATION_ROWS)
        for name in paths.available() if name != "bf16" or len(layers) > 1}, margin=MARGIN, refresh=refresh)
    reading = f"{chunk_rows}" if chunk_rows else kernels.choose(f"{workload}/{path}/reading", {
        plan: _timed_run(path, layers, pool_features, sample, plan, READ_CALIBRATION_ROWS)
        for plan in READ_CANDIDATES}, margin=MARGIN, refresh=refresh)
    rows, prefetch = _reading(reading)
    plan = ScoringPlan(path, rows, source, "measured" if fresh else "cached",
                       paths.prepare(path, layers, sample, rows), prefetch=prefetch, workload=workload)
    return _checked(plan, layers, check)


def iter_chunks(pool: np.ndarray | Int8Features, chunk_rows: int, *,
                prefetch: bool = False) -> Iterator[tuple[int, int, Chunk]]:
    """``(start, stop, Chunk)`` over the pool; each chunk is valid until the next step."""
    if not isinstance(pool, Int8Features):
        for start, stop, rows in iter_row_chunks(pool, chunk_rows, prefetch=prefetch):
            yield start, stop, Chunk(rows)
        return
    for start, stop, codes in iter_row_chunks(pool.codes, chunk_rows, prefetch=prefetch):
        yield start, stop, Chunk(codes, torch.from_numpy(read_rows(pool.scales, start, stop)))


def _reading(plan: str) -> tuple[int, bool]:
    """"16384+prefetch" -> (16384, True)."""
    rows, _, flag = plan.partition("+")
    return int(rows), flag == "prefetch"


def _timed_run(name: str, layers: Layers, pool: np.ndarray | Int8Features, sample: Chunk, reading: str,
               rows: int) -> Callable[[], object]:
    """A zero-argument run of path ``name`` over the pool's first ``rows`` rows, read as
    a round reads them (prepared on first use, so unmeasured candidates cost nothing)."""
    head = _head(pool, rows)
    chunk_rows, prefetch = _reading(reading)
    prepared: list[Logits] = []

    def run() -> object:
        if not prepared:
            prepared.append(paths.prepare(name, layers, sample, chunk_rows))
        return ScoringPlan(name, chunk_rows, "", "", prepared[0], prefetch=prefetch).score(head)

    return run


def _checked(plan: ScoringPlan, layers: Layers, sample: Chunk) -> ScoringPlan:
    """``plan`` if its probabilities on the check rows are within TOLERANCE of fp32, else
    an fp32 plan saying why. fp32 itself is not checked."""
    if plan.path == "fp32" or len(sample) == 0:
        return plan
    with torch.inference_mode():
        reference = torch.sigmoid(paths.prepare("fp32", layers, sample, len(sample))(sample))
        error = float((torch.sigmoid(plan.logits(sample)) - reference).abs().max())
    if error <= TOLERANCE:
        plan.max_error = error
        return plan
    return ScoringPlan("fp32", plan.chunk_rows, plan.source,
                       f"{plan.path} was {error:.3f} from fp32 on the check rows (> {TOLERANCE})",
                       paths.prepare("fp32", layers, sample, plan.chunk_rows), error, plan.prefetch, plan.workload)


def _samples(pool: np.ndarray | Int8Features) -> tuple[Chunk, Chunk]:
    """Calibration rows and check rows: SAMPLE_BLOCKS blocks of SAMPLE_BLOCK rows spread
    evenly over the pool (read with pread, nothing left mapped), alternately to one and
    the other, so the check sees rows the int8 scales were not fitted on."""
    n_rows = pool.shape[0]
    starts = np.unique(np.linspace(0, max(n_rows - SAMPLE_BLOCK, 0), SAMPLE_BLOCKS).astype(np.int64))
    blocks = [(int(s), min(int(s) + SAMPLE_BLOCK, n_rows)) for s in starts]
    return _read_blocks(pool, blocks[0::2]), _read_blocks(pool, blocks[1::2] or blocks)


def _read_blocks(pool: np.ndarray | Int8Features, blocks: list[tuple[int, int]]) -> Chunk:
    if isinstance(pool, Int8Features):
        codes = np.concatenate([read_rows(pool.codes, a, b) for a, b in blocks])
        scales = np.concatenate([read_rows(pool.scales, a, b) for a, b in blocks])
        return Chunk(torch.from_numpy(codes), torch.from_numpy(scales))
    return Chunk(torch.from_numpy(np.concatenate([read_rows(pool, a, b) for a, b in blocks])))


def _head(pool: np.ndarray | Int8Features, rows: int) -> np.ndarray | Int8Features:
    """The pool's first ``rows`` rows, of the same kind (a view: read as the pool is)."""
    if isinstance(pool, Int8Features):
        return Int8Features(pool.codes[:rows], pool.scales[:rows])
    return pool[:rows]


def _widths(layers: Layers, dim: int) -> list[int]:
    return [dim, *(int(w.shape[0]) for w, _ in layers)]


def _check_shape(model: TrainedModel, pool: np.ndarray | Int8Features) -> tuple[int, int]:
    if len(pool.shape) != 2 or pool.shape[1] != model.input_dim:
        raise DimensionMismatchError(f"model expects (N, {model.input_dim}) pool features, got {pool.shape}")
    return int(pool.shape[0]), int(pool.shape[1])

