"""Nearest-neighbour index over the shared embedding vectors (faiss).

Below ``exact_below`` vectors the index is exact (``IndexFlatIP`` / ``IndexFlatL2``).
Above it, an IVF index with 4-bit fast-scan product quantisation (``IVF{n},PQ{m}x4fs``,
at most 128 sub-vectors: 64 bytes per vector) finds candidates; when the raw vectors are
at hand (the store's memmap) the top ``rerank_factor * k`` candidates are re-scored
exactly from them, which is what brings recall back (PQ alone ranks poorly within a
cluster). 10M x 512 then takes ~0.7 GB of RAM, where a flat float32 index takes 20 GB.
``kind="hnsw"`` (``IndexHNSWFlat``) is offered for mid-size pools where its memory is fine.

The index is saved beside the store (:meth:`VectorIndex.save`); :func:`sync_index`
brings it up to date when the store grows: new rows are added, and the index is rebuilt
when it crosses ``exact_below`` or outgrows its IVF training by ``REBUILD_GROWTH``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import torch

from modeling.engine.errors import DimensionMismatchError, EmptyPoolError, ModelFileError
from modeling.engine.trainer.streaming import gather_rows, read_rows, release_rows

Metric = Literal["ip", "l2"]
Progress = Callable[[int, int], None]
Kind = Literal["auto", "flat", "ivf", "hnsw"]
DEFAULT_EXACT_BELOW = 50_000
#: Rebuild an IVF index when the store has grown past this multiple of its trained size.
REBUILD_GROWTH = 2.0
#: Vectors used to train IVF centroids and PQ codebooks (enough per centroid, bounded time).
TRAIN_SAMPLE = 100_000
_ADD_CHUNK = 262_144
#: At most this many 4-bit PQ sub-vectors: 64 bytes per vector, 640 MB for 10M items.
#: At 1M x 512, 64 sub-vectors gave recall@100 .90 re-ranking 10 x k, 128 gave .99.
MAX_PQ_SUBQUANTIZERS = 128
#: IVF coarse quantizers with at least this many lists are HNSW graphs.
HNSW_COARSE_FROM = 1_024
#: Approximate searches fetch this many times k candidates and re-rank them exactly.
#: Measured at 10M x 512 (10 queries, k=100): x10 recall .83 in 45 ms, x20 .95 in 56-73 ms,
#: x30 .97 in 88-101 ms, x40 .99 in 119 ms; reading and casting the rows is the cost.
DEFAULT_RERANK_FACTOR = 20
#: OpenMP threads for faiss calls. One by default: on this shared 2-core machine a second
#: thread made builds 5-25x slower whenever another process held a core (OpenMP workers
#: spin-wait for each other); pass ``threads=2`` to a build on a quiet machine.
DEFAULT_THREADS = 1


@contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` faiss OpenMP threads, restoring the old count after."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class VectorIndex:
    """A faiss index plus what is needed to search, grow and persist it.

    ``vectors``, when given, is the raw (N, d) array (e.g. a float16 memmap) the index
    was built from; approximate searches re-rank their candidates exactly against it.
    """

    def __init__(
        self,
        index: faiss.Index,
        kind: str,
        metric: Metric,
        *,
        trained_size: int,
        nprobe: int = 1,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
        vectors: np.ndarray | None = None,
    ) -> None:
        self.index = index
        self.kind = kind
        self.metric = metric
        self.trained_size = trained_size
        self.nprobe = nprobe
        self.rerank_factor = rerank_factor
        self.vectors = vectors

    @property
    def size(self) -> int:
        """Number of indexed vectors."""
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        """Width of the indexed vectors."""
        return int(self.index.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (q, k) float32 and ids (q, k) int64 of the k nearest vectors per query.

        For ``metric="ip"`` a score is the inner product (cosine on normalised vectors);
        for ``"l2"`` the squared distance. Best first; ids are -1 (score -inf / inf)
        where the index holds fewer than k vectors.
        """
        q = _as_queries(queries, self.dim)
        k_search = k if self.kind == "flat" or self.vectors is None else k * self.rerank_factor
        self._set_search_params()
        with faiss_threads(DEFAULT_THREADS):
            scores, ids = self.index.search(q, min(k_search, max(self.size, 1)))
        if self.kind != "flat" and self.vectors is not None:
            scores, ids = _rerank(q, ids, self.vectors, k, self.metric)
        return _pad(scores, ids, k, self.metric)

    def add(self, vectors: np.ndarray, *, threads: int = DEFAULT_THREADS) -> None:
        """Append ``vectors`` (n, d); their ids continue from the current size."""
        with faiss_threads(threads):
            _add_chunked(self.index, vectors, self.dim)

    def save(self, path: Path) -> None:
        """Write the faiss index to ``path`` and its settings to ``path`` + ``.json``."""
        path = Path(path)
        faiss.write_index(self.index, str(path))
        meta = {
            "kind": self.kind,
            "metric": self.metric,
            "trained_size": self.trained_size,
            "nprobe": self.nprobe,
            "rerank_factor": self.rerank_factor,
        }
        _meta_path(path).write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray | None = None) -> VectorIndex:
        """Read an index written by :meth:`save`; pass the store's ``vectors`` to re-rank."""
        path = Path(path)
        try:
            meta = json.loads(_meta_path(path).read_text())
            index = faiss.read_index(str(path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelFileError(f"cannot read index {path}: {exc}") from exc
        return cls(
            index,
            meta["kind"],
            meta["metric"],
            trained_size=meta["trained_size"],
            nprobe=meta["nprobe"],
            rerank_factor=meta["rerank_factor"],
            vectors=vectors,
        )

    def _set_search_params(self) -> None:
        space = faiss.ParameterSpace()
        if self.kind == "ivf":
            space.set_index_parameter(self.index, "nprobe", self.nprobe)
            if isinstance(faiss.downcast_index(faiss.extract_index_ivf(self.index).quantizer), faiss.IndexHNSW):
                # The graph must return at least nprobe lists.
                space.set_index_parameter(self.index, "quantizer_efSearch", 2 * self.nprobe)
        elif self.kind == "hnsw":
            space.set_index_parameter(self.index, "efSearch", self.nprobe)

    def __repr__(self) -> str:
        return (
            f"VectorIndex(kind={self.kind!r}, metric={self.metric!r}, size={self.size}, "
            f"dim={self.dim}, nprobe={self.nprobe}, rerank={'yes' if self.vectors is not None else 'no'})"
        )


def build_index(
    vectors: np.ndarray,
    *,
    exact_below: int = DEFAULT_EXACT_BELOW,
    metric: Metric = "ip",
    kind: Kind = "auto",
    seed: int = 0,
    keep_vectors: bool = True,
    threads: int = DEFAULT_THREADS,
    progress: Progress | None = None,
) -> VectorIndex:
    """Index ``vectors`` (N, d) (float16/float32; a memmap is read in chunks with pread,
    so none of it stays mapped).

    ``kind="auto"``: exact below ``exact_below`` rows, IVF-PQ fast-scan above.
    ``keep_vectors``: hold a reference to ``vectors`` for exact re-ranking (no copy).
    ``threads``: faiss OpenMP threads for training and adding.
    ``progress(rows_added, N)``: after training (0) and after every added chunk.
    """
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise EmptyPoolError(f"cannot index {vectors.shape} vectors: need a non-empty (N, d)")
    chosen = ("flat" if len(vectors) < exact_below else "ivf") if kind == "auto" else kind
    builder = {"flat": _build_flat, "ivf": _build_ivf, "hnsw": _build_hnsw}[chosen]
    with faiss_threads(threads):
        index, nprobe = builder(vectors, _faiss_metric(metric), seed)
        if progress is not None:
            progress(0, len(vectors))
        _add_chunked(index, vectors, vectors.shape[1], progress)
    return VectorIndex(
        index,
        chosen,
        metric,
        trained_size=len(vectors),
        nprobe=nprobe,
        vectors=vectors if keep_vectors and chosen != "flat" else None,
    )


def sync_index(index: VectorIndex, vectors: np.ndarray, *, exact_below: int = DEFAULT_EXACT_BELOW) -> VectorIndex:
    """The index brought up to date with the store's ``vectors`` (N, d), N >= index.size.

    Adds the new rows in place, or rebuilds when the store crossed ``exact_below`` (an
    exact index would get slow) or grew past ``REBUILD_GROWTH`` x the IVF training size
    (its centroids no longer fit the data).
    """
    if len(vectors) < index.size:
        raise DimensionMismatchError(f"store has {len(vectors)} vectors but the index already holds {index.size}")
    if _needs_rebuild(index, len(vectors), exact_below):
        return build_index(
            vectors,
            exact_below=exact_below,
            metric=index.metric,
            keep_vectors=index.vectors is not None or index.kind == "flat",
        )
    index.add(vectors[index.size :])
    if index.vectors is not None:
        index.vectors = vectors
    return index


def _needs_rebuild(index: VectorIndex, n_total: int, exact_below: int) -> bool:
    if index.kind == "flat":
        return n_total >= exact_below
    return index.kind == "ivf" and n_total > REBUILD_GROWTH * index.trained_size


def _build_flat(vectors: np.ndarray, metric: int, seed: int) -> tuple[faiss.Index, int]:
    return faiss.IndexFlat(vectors.shape[1], metric), 1


def _build_ivf(vectors: np.ndarray, metric: int, seed: int) -> tuple[faiss.Index, int]:
    """IVF with ~4 sqrt(N) lists (at most one per 39 training rows, faiss's minimum) and
    4-bit fast-scan PQ; probes 1/64 of the lists, at least 16 (embeddings cluster: a
    region spans few lists, and PQ's coarse ranking, not probing, limits recall; the
    exact re-rank of ``DEFAULT_RERANK_FACTOR`` x k candidates restores it).

    Above ``HNSW_COARSE_FROM`` lists the coarse quantizer is itself an HNSW graph, so
    assigning 10M vectors to lists costs a graph walk each instead of a scan of every
    centroid (26 TFLOP at 10M x 2,560 x 512).
    """
    n, d = vectors.shape
    sample = _training_sample(vectors, seed)
    nlist = int(max(1, min(4 * np.sqrt(n), len(sample) // 39)))
    coarse = f"IVF{nlist}_HNSW32" if nlist >= HNSW_COARSE_FROM else f"IVF{nlist}"
    index = faiss.index_factory(d, f"{coarse},PQ{pq_subquantizers(d)}x4fs", metric)
    faiss.extract_index_ivf(index).cp.seed = seed
    index.train(sample)
    return index, max(16, nlist // 64)


def pq_subquantizers(dim: int) -> int:
    """PQ sub-vectors: the largest even divisor of ``dim`` up to ``MAX_PQ_SUBQUANTIZERS``
    (4 bits each: 64 bytes per vector at 128), or ``dim`` itself when none divides."""
    even = [m for m in range(2, min(dim, MAX_PQ_SUBQUANTIZERS) + 1, 2) if dim % m == 0]
    return even[-1] if even else dim


def _build_hnsw(vectors: np.ndarray, metric: int, seed: int) -> tuple[faiss.Index, int]:
    """HNSW graph with 32 links per node; efSearch 256 (stored in ``nprobe``): 2.5 x k for
    k = 100, which measured recall@100 >= 0.99 on clustered data."""
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, metric)
    index.hnsw.efConstruction = 80
    return index, 256


def _training_sample(vectors: np.ndarray, seed: int) -> np.ndarray:
    """Up to ``TRAIN_SAMPLE`` rows (float32, sorted indices for a forward file walk)."""
    n = len(vectors)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, TRAIN_SAMPLE), replace=False))
    return np.ascontiguousarray(gather_rows(vectors, rows), dtype=np.float32)


def _add_chunked(index: faiss.Index, vectors: np.ndarray, dim: int, progress: Progress | None = None) -> None:
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise DimensionMismatchError(f"index holds {dim}-d vectors, got {vectors.shape}")
    for start in range(0, len(vectors), _ADD_CHUNK):
        stop = min(start + _ADD_CHUNK, len(vectors))
        index.add(np.ascontiguousarray(read_rows(vectors, start, stop), dtype=np.float32))
        if progress is not None:
            progress(stop, len(vectors))


def _rerank(
    queries: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of each query's candidate ids against the raw vectors; best k kept.

    Each distinct candidate row is read once (ascending, so a memmap is walked forwards)
    and scored against every query in one matmul; scores are then gathered per query.
    """
    safe = np.where(ids >= 0, ids, 0)
    flat, inverse = np.unique(safe, return_inverse=True)
    # torch casts float16 rows ~3x faster than numpy (30k x 512: 17 vs 50 ms).
    rows = torch.from_numpy(np.asarray(vectors[flat])).float().numpy()  # (u, d)
    # The reads mapped pages around each row (fault-around): drop them from our RSS.
    if len(flat):
        release_rows(vectors, int(flat[0]), int(flat[-1]) + 1)
    table = rows @ queries.T  # (u, q)
    if metric == "l2":
        table = np.einsum("ud,ud->u", rows, rows)[:, None] - 2 * table + np.sum(queries**2, 1)
    exact = table[inverse.reshape(ids.shape), np.arange(len(queries))[:, None]]
    sign = -1.0 if metric == "ip" else 1.0  # ascending order of sign * score = best first
    exact = np.where(ids >= 0, exact, np.inf * sign)  # missing ids rank last
    kth = min(k, exact.shape[1]) - 1
    part = np.argpartition(sign * exact, kth, axis=1)[:, : kth + 1]
    order = np.take_along_axis(part, np.argsort(sign * np.take_along_axis(exact, part, 1), 1), 1)
    return (
        np.take_along_axis(exact, order, 1).astype(np.float32),
        np.take_along_axis(ids, order, 1),
    )


def _pad(scores: np.ndarray, ids: np.ndarray, k: int, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """Widen results to k columns with id -1 (faiss returns fewer when k > size)."""
    missing = k - ids.shape[1]
    if missing <= 0:
        return scores.astype(np.float32), ids.astype(np.int64)
    fill = -np.inf if metric == "ip" else np.inf
    scores = np.pad(scores.astype(np.float32), ((0, 0), (0, missing)), constant_values=fill)
    ids = np.pad(ids.astype(np.int64), ((0, 0), (0, missing)), constant_values=-1)
    return scores, ids


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if q.shape[1] != dim:
        raise DimensionMismatchError(f"index holds {dim}-d vectors, queries are {q.shape}")
    return np.ascontiguousarray(q)


def _faiss_metric(metric: Metric) -> int:
    return int(faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")
