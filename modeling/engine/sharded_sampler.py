"""The stratified evaluation sample of a sharded pool: per-shard strata counts and keys
(map), merged into the sample :func:`~modeling.engine.sampler.stratified_sample` draws.

A model's sample is, per stratum, the k items with the lowest key hashes; an item among
the k lowest of the pool is among the k lowest of its shard. So each shard returns, per
model and stratum, its item count and its k lowest (hash, pool row) pairs, and the reduce
sums the counts and keeps the k lowest of the union: the same sample for any sharding
(the hash depends on the key alone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modeling.engine.errors import DimensionMismatchError
from modeling.engine.sampler import (
    DEFAULT_K,
    N_STRATA,
    EvaluationSample,
    ModelSample,
    key_hashes,
    lowest_per_stratum,
    strata_of,
)


@dataclass(frozen=True)
class ShardStrata:
    """Per model: ``sizes`` (10,) items of the shard per stratum; ``rows`` (m,) pool rows
    of its k lowest hashes per stratum, their ``hashes`` (m,) uint64 and ``strata`` (m,)."""

    models: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

    def to_json(self) -> dict[str, Any]:
        return {name: {"sizes": s.tolist(), "rows": r.tolist(), "hashes": [str(h) for h in hs.tolist()],
                       "strata": st.tolist()} for name, (s, r, hs, st) in self.models.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShardStrata:
        return cls({name: (np.asarray(m["sizes"], dtype=np.int64), np.asarray(m["rows"], dtype=np.int64),
                           np.asarray([int(h) for h in m["hashes"]], dtype=np.uint64),
                           np.asarray(m["strata"], dtype=np.int64)) for name, m in data.items()})


def shard_strata(keys: Sequence[str], rows: np.ndarray, scores: Mapping[str, np.ndarray], k: int = DEFAULT_K,
                 ) -> ShardStrata:
    """The map step over one shard: ``keys`` (n,) the keys of its candidate items and
    ``rows`` (n,) their pool rows (any ids, unique over the pool); ``scores`` model name ->
    (n,) scores in [0, 1] of those items. The merged sample's indices are these rows."""
    hashes = key_hashes(keys)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.shape != (len(keys),):
        raise DimensionMismatchError(f"{rows.shape} rows for {len(keys)} keys")
    models = {}
    for name, model_scores in scores.items():
        if np.shape(model_scores) != (len(keys),):
            raise DimensionMismatchError(f"model {name!r} has {np.shape(model_scores)} scores for {len(keys)} keys")
        strata = strata_of(model_scores)
        chosen = lowest_per_stratum(hashes, strata, k)
        sizes = np.bincount(strata, minlength=N_STRATA).astype(np.int64)
        models[name] = (sizes, rows[chosen], hashes[chosen], strata[chosen])
    return ShardStrata(models)


def merge_strata(parts: Sequence[ShardStrata], k: int = DEFAULT_K) -> EvaluationSample:
    """The reduce: the evaluation sample of the whole pool from every shard's strata."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    names = list(parts[0].models) if parts else []
    models: dict[str, ModelSample] = {}
    for name in names:
        sizes = np.sum([p.models[name][0] for p in parts], axis=0).astype(np.int64)
        rows = np.concatenate([p.models[name][1] for p in parts])
        hashes = np.concatenate([p.models[name][2] for p in parts])
        strata = np.concatenate([p.models[name][3] for p in parts])
        keep = lowest_per_stratum(hashes, strata, k)
        order = np.argsort(rows[keep])
        models[name] = ModelSample(name, rows[keep][order], strata[keep][order], sizes)
    union = [m.indices for m in models.values()] or [np.empty(0, dtype=np.int64)]
    return EvaluationSample(np.unique(np.concatenate(union)), models, k)
