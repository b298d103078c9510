"""A pool stored as shards: one :class:`~modeling.engine.store.EmbeddingStore` each.

Layout of a sharded pool directory::

    shards.json         {"format", "shard_rows", "shards": [{"dir", "rows"}, ...]}
    shard-0000/         an EmbeddingStore (with its own int8 copy when the pool has one)
    shard-0000.faiss    that shard's index (VectorIndex.save), and so on per shard

Pool row ``r`` is row ``r - offsets[i]`` of shard ``i`` (shards in order, each
``shard_rows`` rows but the last). A directory that holds one EmbeddingStore and no
``shards.json`` is a one-shard pool: today's layout, still the default, read by the same
class. ``shards.json`` is written (atomically) only when every shard is complete, so a
pool whose embedding stopped part-way is never opened half-written.

The shards of one pool live on storage every worker can read (a shared filesystem):
the map steps of :mod:`modeling.engine.sharded_active`, ``sharded_expansion`` and
``sharded_sampler`` each read one shard; the reduce steps read candidates only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeling.engine.store import EmbeddingStore, StoreError

MANIFEST = "shards.json"
FORMAT = "agile-shards/1"


def plan_shards(n_rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` row ranges of consecutive shards of ``shard_rows`` rows
    (the last may be shorter); one range for ``shard_rows`` <= 0 (an unsharded pool)."""
    if n_rows <= 0:
        return []
    if shard_rows <= 0 or shard_rows >= n_rows:
        return [(0, n_rows)]
    return [(start, min(start + shard_rows, n_rows)) for start in range(0, n_rows, shard_rows)]


def shard_name(i: int) -> str:
    return f"shard-{i:04d}"


def shard_index_file(path: Path, i: int) -> Path:
    """Where shard ``i``'s index is saved in the pool directory ``path`` (beside its store)."""
    return Path(path) / f"{shard_name(i)}.faiss"


@dataclass(frozen=True, eq=False)
class ShardedPool:
    """The shards of one pool, in row order. ``shard_rows`` is 0 for a one-shard pool."""

    path: Path
    shard_rows: int
    stores: tuple[EmbeddingStore, ...]

    @staticmethod
    def is_sharded(path: Path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @staticmethod
    def exists(path: Path) -> bool:
        return ShardedPool.is_sharded(path) or EmbeddingStore.exists(Path(path))

    @classmethod
    def open(cls, path: Path) -> ShardedPool:
        """The pool at ``path``: its shards, or the one store it holds (raises StoreError)."""
        path = Path(path)
        if not cls.is_sharded(path):
            return cls(path, 0, (EmbeddingStore.open(path),))
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {path / MANIFEST}: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise StoreError(f"{path / MANIFEST} holds format {manifest.get('format')!r}, expected {FORMAT!r}")
        stores = tuple(EmbeddingStore.open(path / s["dir"]) for s in manifest["shards"])
        for store, entry in zip(stores, manifest["shards"]):
            if len(store) != int(entry["rows"]):
                raise StoreError(f"{store.path} holds {len(store)} rows, the manifest says {entry['rows']}")
        return cls(path, int(manifest["shard_rows"]), stores)

    @classmethod
    def seal(cls, path: Path, shard_rows: int, count: int) -> ShardedPool:
        """Record the ``count`` complete shard stores under ``path`` as one pool (the
        commit point of a sharded embedding: written last, atomically)."""
        path = Path(path)
        stores = [EmbeddingStore.open(path / shard_name(i)) for i in range(count)]
        manifest = {"format": FORMAT, "shard_rows": shard_rows,
                    "shards": [{"dir": shard_name(i), "rows": len(s)} for i, s in enumerate(stores)]}
        tmp = path / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, path / MANIFEST)
        return cls.open(path)

    def __repr__(self) -> str:
        return f"ShardedPool({str(self.path)!r}, rows={len(self)}, shards={len(self.stores)}, shard_rows={self.shard_rows})"

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def offsets(self) -> np.ndarray:
        """(S + 1,) int64: shard i holds pool rows ``offsets[i] .. offsets[i + 1]``."""
        return np.cumsum([0, *(len(s) for s in self.stores)]).astype(np.int64)

    @property
    def keys(self) -> list[str]:
        return [key for store in self.stores for key in store.keys]

    def index_path(self, i: int) -> Path:
        """Where shard ``i``'s index is saved (beside its store)."""
        return shard_index_file(self.path, i)

    def locate(self, rows: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``[(shard, local rows, positions in rows), ...]`` for pool ``rows`` (n,)."""
        rows = np.asarray(rows, dtype=np.int64)
        offsets = self.offsets
        if len(rows) and (rows.min() < 0 or rows.max() >= offsets[-1]):
            raise StoreError(f"rows outside the pool of {offsets[-1]}")
        shard = np.searchsorted(offsets, rows, side="right") - 1
        out = []
        for i in np.unique(shard).tolist():
            where = np.flatnonzero(shard == i)
            out.append((int(i), rows[where] - offsets[i], where))
        return out

    def gather(self, field: str, rows: np.ndarray) -> np.ndarray:
        """Float32 rows (n, width) of ``field`` for pool ``rows`` (n,), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        width = self.stores[0].field(field).shape[1]
        out = np.empty((len(rows), width), dtype=np.float32)
        for i, local, where in self.locate(rows):
            order = np.argsort(local, kind="stable")  # ascending reads walk the file forwards
            out[where[order]] = np.asarray(self.stores[i].field(field)[local[order]], dtype=np.float32)
        return out


def merge_top(parts: Sequence[tuple[np.ndarray, np.ndarray]], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``count`` (rows, scores) of per-shard (rows (m,), scores (m,)) lists, scores
    high first, then rows low first: e.g. the top items of a pool scored shard by shard."""
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    rows = np.concatenate([np.asarray(r, dtype=np.int64) for r, _ in parts])
    scores = np.concatenate([np.asarray(s) for _, s in parts])
    order = np.lexsort((rows, -scores))[:count]
    return rows[order], scores[order]


def describe(pool: ShardedPool) -> dict[str, Any]:
    """A small JSON-able summary (job results, logs)."""
    return {"rows": len(pool), "shards": len(pool.stores), "shard_rows": pool.shard_rows}
