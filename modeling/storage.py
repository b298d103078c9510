"""Where a pool's files live: the embedding store, its index, model files and scores.

Everything sits under ``settings.POOLS_DIR`` (shared storage when jobs run on several
machines): ``<pool id>/store`` (EmbeddingStore, or the shards of a sharded pool:
``store/shards.json``, ``store/shard-NNNN/`` and their indexes ``store/shard-NNNN.faiss``), ``<pool id>/index.faiss``,
``<pool id>/models/<concept id>-v<n>.pt`` and ``<pool id>/scores/<concept id>-v<n>.npy``.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.errors import Conflict
from labeling.models import Pool
from modeling.engine.encoders import Encoder, create_encoder
from modeling.engine.index import VectorIndex
from modeling.engine.shards import ShardedPool, shard_name
from modeling.engine.store import EmbeddingStore, StoreError
from modeling.models import ModelVersion


def pool_dir(pool: Pool) -> Path:
    return Path(settings.POOLS_DIR) / str(pool.pk)


def store_dir(pool: Pool) -> Path:
    return pool_dir(pool) / "store"


def index_path(pool: Pool) -> Path:
    return pool_dir(pool) / "index.faiss"


def model_path(version: ModelVersion) -> Path:
    return pool_dir(version.pool) / "models" / f"{version.concept_id}-v{version.number}.pt"  # type: ignore[arg-type]


def scores_path(version: ModelVersion) -> Path:
    return pool_dir(version.pool) / "scores" / f"{version.concept_id}-v{version.number}.npy"  # type: ignore[arg-type]


def open_store(pool: Pool) -> EmbeddingStore:
    """The pool's one store (a sharded pool is read through :func:`open_pool`)."""
    if ShardedPool.is_sharded(store_dir(pool)):
        raise StoreError(f"Pool {pool.pk} is stored as shards; this step reads one-store pools only "
                         "(sharded pools run expansion, AL rounds, evaluation sampling and scoring).")
    return EmbeddingStore.open(store_dir(pool))


def open_index(pool: Pool, store: EmbeddingStore) -> VectorIndex:
    return VectorIndex.load(index_path(pool), vectors=store.vectors)


def save_index(pool: Pool, index: VectorIndex, final: Path | None = None) -> None:
    """Write the pool's index (or a shard's, at ``final``) aside, then move it into place:
    a search running meanwhile keeps reading the old one."""
    final = final or index_path(pool)
    final.parent.mkdir(parents=True, exist_ok=True)
    aside = final.with_name(f".{final.name}.new")
    index.save(aside)
    os.replace(aside.with_name(aside.name + ".json"), final.with_name(final.name + ".json"))
    os.replace(aside, final)


_encoder_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _encoder(name: str) -> Encoder:
    return create_encoder(name)


def encoder_for(name: str) -> Any:
    """One loaded encoder per name and process: loading the real models takes seconds."""
    with _encoder_lock:
        return _encoder(name)


def open_pool(pool: Pool) -> ShardedPool:
    """The pool's shards (one for a pool stored the old way, as one store)."""
    return ShardedPool.open(store_dir(pool))


def shard_index_path(pool: Pool, layout: ShardedPool, shard: int) -> Path:
    """Shard ``shard``'s index: the pool's index when it has one shard."""
    return index_path(pool) if len(layout.stores) == 1 and not layout.shard_rows else layout.index_path(shard)


def shard_scores_path(base: Path, layout: ShardedPool, shard: int) -> Path:
    """Where shard ``shard``'s part of the scores file ``base`` lives: ``base`` itself for
    a one-shard pool, else ``<base without .npy>/shard-NNNN.npy``."""
    if len(layout.stores) == 1 and not layout.shard_rows:
        return base
    return base.with_suffix("") / f"{shard_name(shard)}.npy"


def save_array(path: Path, array: Any) -> None:
    """``np.save`` written aside, then moved into place (a reader never sees half a file)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(aside, "wb") as handle:
        np.save(handle, array)
    os.replace(aside, path)


def is_sharded(pool: Pool) -> bool:
    """True when the pool is stored as several shards (``store/shards.json``)."""
    return ShardedPool.is_sharded(store_dir(pool))


class ShardedPoolUnsupported(Conflict):
    """A step that reads one-store pools only, asked of a sharded pool: a 409 in the API."""


def one_store_only(pool: Pool, step: str) -> None:
    """Refuse ``step`` (what the caller asked for, e.g. "the evaluation metrics") on a
    sharded pool, with a message that says so, before any file is opened."""
    if is_sharded(pool):
        raise ShardedPoolUnsupported(
            f"Pool {pool.pk} is stored as shards: {step} reads one-store pools only, so far (sharded pools run "
            "embedding, expansion, AL rounds, the evaluation sample and scoring). Use a one-store pool "
            "(shard_rows 0) for this step.")
