"""An AL round over a sharded pool as map-reduce: the same batch as :func:`next_batch`.

Map (one call per shard, anywhere): :func:`shard_candidates` turns the shard's
probabilities (n,) into its own best rows for each score the strategy ranks by
(:func:`needs`): ``k`` by margin for ``margin``, ``k`` by margin and ``k`` by top
score for ``margin-mining``, ``DIVERSE_POOL_FACTOR * k`` by margin for
``margin-diverse`` and ``badge``, ``k`` by random score for ``random``.
Reduce (once): :func:`reduce_batch` merges the lists and finishes the strategy on
their union: the sub-round walk of margin-mining, k-means++ seeding over the
candidates' embeddings (margin-diverse) or gradient embeddings (badge, not
decomposable: it reduces on the union of per-shard candidates).

Why the answer does not depend on the layout: every list is ranked by the total order
(score high first, pool row low first) that :func:`~modeling.engine.active.select`
uses, so an item among the pool's best m is among its own shard's best m, and the
best m of the union are the pool's best m, in the same order. Random scores are the
caller's generator's draws for each row: a shard advances a copy of it to its first
row (:func:`generator_at`), so row i gets the i-th draw whatever shard holds it. The
reduce then spends the generator exactly as the unsharded strategy does.

Candidates travel as small JSON-able dicts (:meth:`ShardCandidates.to_json`): a Celery
result, or a database row between a failed shard and its retry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modeling.engine.active import (
    DIVERSE_POOL_FACTOR,
    STRATEGIES,
    Representation,
    gradient_embeddings,
    margin,
    mining_walk,
    spread,
    top_k,
    top_score,
)
from modeling.engine.errors import DimensionMismatchError, EmptyPoolError, UnknownStrategyError

RowReader = Callable[[np.ndarray], np.ndarray]


def needs(strategy: str, k: int) -> dict[str, int]:
    """Score name -> how many best rows each shard returns for ``strategy`` and batch ``k``."""
    if strategy not in STRATEGIES:
        raise UnknownStrategyError(f"unknown strategy {strategy!r}; known: {sorted(STRATEGIES)}")
    return {
        "random": {"random": k},
        "margin": {"margin": k},
        "margin-mining": {"margin": k, "top": k},
        "margin-diverse": {"margin": DIVERSE_POOL_FACTOR * k},
        "badge": {"margin": DIVERSE_POOL_FACTOR * k},
    }[strategy]


@dataclass(frozen=True)
class Ranked:
    """Best rows first: ``rows`` (m,) int64 pool rows, ``keys`` (m,) their scores (the
    ranking key), ``probs`` (m,) float32 their probabilities."""

    rows: np.ndarray
    keys: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class ShardCandidates:
    """One shard's best rows per score name; its row count and unrated rows."""

    lists: dict[str, Ranked]
    rows: int
    unrated: int

    def to_json(self) -> dict[str, Any]:
        lists = {name: {"rows": r.rows.tolist(), "keys": r.keys.tolist(), "probs": r.probs.tolist(),
                        "dtype": str(r.keys.dtype)} for name, r in self.lists.items()}
        return {"lists": lists, "rows": self.rows, "unrated": self.unrated}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShardCandidates:
        lists = {name: Ranked(np.asarray(r["rows"], dtype=np.int64), np.asarray(r["keys"], dtype=r["dtype"]),
                              np.asarray(r["probs"], dtype=np.float32)) for name, r in data["lists"].items()}
        return cls(lists, int(data["rows"]), int(data["unrated"]))

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(r.rows)}" for n, r in self.lists.items())
        return f"ShardCandidates({sizes}, rows={self.rows}, unrated={self.unrated})"


def generator_at(state: Mapping[str, Any], offset: int) -> np.random.Generator:
    """A generator in ``state`` (a ``bit_generator.state``) moved ``offset`` draws on: its
    ``random(n)`` are draws ``offset .. offset + n`` of the original's ``random(N)``."""
    bit_generator = getattr(np.random, str(state["bit_generator"]))()
    bit_generator.state = dict(state)
    if hasattr(bit_generator, "advance"):
        bit_generator.advance(offset)
        return np.random.Generator(bit_generator)
    rng = np.random.Generator(bit_generator)
    for start in range(0, offset, 1 << 20):  # no jump-ahead: draw and drop, in chunks
        rng.random(min(1 << 20, offset - start))
    return rng


def shard_candidates(
    strategy: str,
    k: int,
    probs: np.ndarray,
    offset: int,
    rated: np.ndarray,
    rng_state: Mapping[str, Any] | None = None,
) -> ShardCandidates:
    """The map step: this shard's best rows for every score ``strategy`` ranks by.

    probs: (n,) the model's probabilities on the shard's rows, which are pool rows
    ``offset .. offset + n``; rated: (m,) pool rows already asked (rows outside the
    shard are ignored); rng_state: the round generator's ``bit_generator.state`` before
    the round (needed by ``random``).
    """
    probs = np.asarray(probs)
    if probs.ndim != 1:
        raise DimensionMismatchError(f"shard probabilities must be (n,), got {probs.shape}")
    rated = np.asarray(rated, dtype=np.int64).reshape(-1)
    local = np.unique(rated[(rated >= offset) & (rated < offset + len(probs))] - offset)
    lists: dict[str, Ranked] = {}
    for name, count in needs(strategy, k).items():
        if name == "random":
            if rng_state is None:
                raise ValueError("the random strategy needs the round generator's state")
            scores = generator_at(rng_state, offset).random(len(probs))
        else:
            scores = {"margin": margin, "top": top_score}[name](probs)
        key = np.array(scores, dtype=np.result_type(scores.dtype, np.float32))
        lowest = np.finfo(key.dtype).min
        np.nan_to_num(key, copy=False, nan=lowest, neginf=lowest)
        key[local] = -np.inf
        picked = top_k(key, min(count, len(key) - len(local)))
        lists[name] = Ranked(picked + offset, key[picked], np.asarray(probs[picked], dtype=np.float32))
    return ShardCandidates(lists, len(probs), len(probs) - len(local))


def merge_ranked(parts: Sequence[Ranked], count: int) -> Ranked:
    """The best ``count`` of several ranked lists, by (key high first, row low first)."""
    if not parts:
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32))
    rows = np.concatenate([p.rows for p in parts])
    keys = np.concatenate([p.keys for p in parts])
    probs = np.concatenate([p.probs for p in parts])
    order = np.lexsort((rows, -keys))[:count]
    return Ranked(rows[order], keys[order], probs[order])


def reduce_batch(
    strategy: str,
    k: int,
    parts: Sequence[ShardCandidates],
    rated_labels: np.ndarray,
    rng: np.random.Generator,
    embeddings_of: RowReader | None = None,
    represent: Representation | None = None,
) -> np.ndarray:
    """The reduce step: pool rows (min(k, unrated),) int64, as :func:`next_batch` picks.

    rated_labels: (m,) labels of the rated rows (for margin-mining's balance);
    rng: the round generator in the state whose ``bit_generator.state`` the shards got;
    embeddings_of: ascending pool rows -> their embeddings (margin-diverse, and badge
    without a model); represent: ascending pool rows -> last hidden layer (badge).
    """
    wanted = needs(strategy, k)
    if sum(p.unrated for p in parts) == 0:
        raise EmptyPoolError("every pool item is already rated")
    merged = {name: merge_ranked([p.lists[name] for p in parts], count) for name, count in wanted.items()}
    if strategy == "random":
        _spend(rng, sum(p.rows for p in parts))  # leave it where the unsharded round does
    if strategy in ("random", "margin"):
        return next(iter(merged.values())).rows[:k]
    probs = {int(r): float(p) for m in merged.values() for r, p in zip(m.rows.tolist(), m.probs.tolist())}

    def probs_of(rows: np.ndarray) -> np.ndarray:
        return np.asarray([probs[int(r)] for r in rows], dtype=np.float32)

    if strategy == "margin-mining":
        return mining_walk(merged["margin"].rows, merged["top"].rows, probs_of, np.asarray(rated_labels), k)
    candidates = merged["margin"].rows
    if strategy == "badge" and represent is not None:
        return spread(candidates, k, gradient_embeddings(represent, probs_of), rng)
    if embeddings_of is None:
        raise DimensionMismatchError("margin-diverse needs the pool embeddings (N, d)")
    return spread(candidates, k, lambda rows: np.asarray(embeddings_of(rows), dtype=np.float32), rng)


def _spend(rng: np.random.Generator, draws: int) -> None:
    """Move ``rng`` on by ``draws`` uniform draws."""
    if hasattr(rng.bit_generator, "advance"):
        rng.bit_generator.advance(draws)
    else:
        rng.random(draws)


def sharded_next_batch(
    strategy: str,
    shard_probs: Sequence[np.ndarray],
    k: int,
    rated: np.ndarray,
    rated_labels: np.ndarray,
    rng: np.random.Generator,
    embeddings_of: RowReader | None = None,
    represent: Representation | None = None,
) -> np.ndarray:
    """Map and reduce in this process over shards given as consecutive probability
    arrays: what the job runner does with shard tasks, in one call (tests, benchmarks)."""
    state = rng.bit_generator.state
    offsets = np.cumsum([0, *(len(p) for p in shard_probs)])
    parts = [shard_candidates(strategy, k, p, int(o), rated, state) for p, o in zip(shard_probs, offsets)]
    return reduce_batch(strategy, k, parts, rated_labels, rng, embeddings_of, represent)
