"""Where a pool's files live: the embedding store, its index, model files and scores.

Everything sits under ``settings.POOLS_DIR`` (shared storage when jobs run on several
machines): ``<pool id>/store`` (EmbeddingStore), ``<pool id>/index.faiss``,
``<pool id>/models/<concept id>-v<n>.pt`` and ``<pool id>/scores/<concept id>-v<n>.npy``.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.models import Pool
from modeling.engine.encoders import Encoder, create_encoder
from modeling.engine.index import VectorIndex
from modeling.engine.store import EmbeddingStore
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
    return EmbeddingStore.open(store_dir(pool))


def open_index(pool: Pool, store: EmbeddingStore) -> VectorIndex:
    return VectorIndex.load(index_path(pool), vectors=store.vectors)


def save_index(pool: Pool, index: VectorIndex) -> None:
    """Write the pool's index aside, then move it into place: a search running meanwhile
    keeps reading the old one."""
    final = index_path(pool)
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
