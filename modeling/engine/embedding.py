"""The embedding pipeline: image source → encoder → store, resumable and cached.

``embed_source`` walks a pool's images in sorted order, encodes them in batches and appends
every batch to an EmbeddingStore in ``out_dir`` (durable per batch). If it stops part-way
(crash, encoder error), a re-run continues after the last committed row. A finished store
is published to a content-addressed cache (sha256 of the source + encoder key), so the same
pool embedded again, into any ``out_dir``, is hard-linked from the cache in seconds.
Unreadable images are skipped and reported by key; they never stop a run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modeling.engine.encoders.base import (
    EncodedBatch,
    Encoder,
    KeyedEncoder,
    LogitsEncoder,
    Progress,
)
from modeling.engine.encoders.paths import default_cache_dir
from modeling.engine.images import (
    ImageRef,
    ImageSource,
    UnreadableImageError,
    get_source,
    label_for_key,
    list_images,
)
from modeling.engine.store import EmbeddingStore, StoreError

SKIPPED_FILE = "skipped.json"
RUN_LOCK = ".embed-run.lock"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class EmbedResult:
    """A finished pool embedding.

    store: the rows, in sorted key order of the images that could be read.
    skipped: (key, reason) of every image that could not be read or encoded.
    labels: per store row, the key's first folder (the simulated rater's answer) or None.
    from_cache: True when nothing was computed now: the store was already complete in
        ``out_dir`` or was linked from the cache.
    """

    store: EmbeddingStore
    skipped: list[tuple[str, str]]
    labels: list[str | None]
    from_cache: bool = False

    def __repr__(self) -> str:
        return (f"EmbedResult(rows={len(self.store)}, skipped={len(self.skipped)}, "
                f"from_cache={self.from_cache}, path={str(self.store.path)!r})")


def content_hash(source: Path, keys: Sequence[str] | None = None) -> str:
    """sha256 of a zip's bytes, or of every image's key and bytes in a folder (hex)."""
    digest = hashlib.sha256()
    if source.is_file():
        with open(source, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
    for key in keys if keys is not None else [ref.key for ref in list_images(source)]:
        digest.update(key.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256((source / key).read_bytes()).digest())
    return digest.hexdigest()


def cache_entry(cache_dir: Path, content: str, encoder_key: str) -> Path:
    """Where the finished store of (content hash, encoder key) lives in the cache."""
    encoder_id = hashlib.sha256(encoder_key.encode("utf-8")).hexdigest()[:16]
    return cache_dir / "embeddings" / content[:24] / encoder_id


def embed_source(
    source: Path,
    encoder: Encoder | KeyedEncoder,
    out_dir: Path,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
    cache_dir: Path | None = None,
    dtype: str = "float16",
    keys: Sequence[str] | None = None,
) -> EmbedResult:
    """Embed every image of ``source`` (folder or zip) into an EmbeddingStore at ``out_dir``.

    ``keys``: only these images of the source (one shard of a sharded pool), in source order.

    Raises ImageSourceError / EmptyPoolError for a bad source, StoreError when ``out_dir``
    holds another pool's or encoder's store; an exception from the encoder propagates after
    the batches before it were committed (re-run to resume).
    """
    refs = list_images(source)
    if keys is not None:
        wanted = set(keys)
        refs = [ref for ref in refs if ref.key in wanted]
    content = content_hash(source, [ref.key for ref in refs])
    meta = _pool_meta(source, encoder, content, refs, dtype)
    done = _finished(out_dir, meta)
    if done is not None:
        return _result(done, from_cache=True)
    entry = cache_entry(cache_dir or default_cache_dir(), content, encoder.key)
    cached = _finished(entry, meta)
    if cached is not None and entry.resolve() != out_dir.resolve():
        return _result(_link_store(entry, out_dir, meta), from_cache=True)
    with _run_lock(out_dir):
        store = _open_or_create(out_dir, encoder, meta, dtype)
        sibling = _derivable_sibling(entry, encoder, meta) if len(store) == 0 else None
        if sibling is not None and isinstance(encoder, LogitsEncoder):
            _derive(sibling, store, encoder, progress)
        _fill(store, get_source(source), refs, encoder, batch_size, progress)
        store.update_meta(complete=True)
    if entry.resolve() != out_dir.resolve():
        _publish(out_dir, entry)
    return _result(store, from_cache=False)


@contextmanager
def _run_lock(out_dir: Path) -> Iterator[None]:
    """One embedding run per output directory at a time (a second one fails fast, clearly)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / RUN_LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"{out_dir} is being embedded by another process; wait for it to "
                             "finish or choose another output directory") from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _pool_meta(
    source: Path, encoder: Encoder | KeyedEncoder, content: str, refs: list[ImageRef], dtype: str
) -> dict[str, Any]:
    labels = sorted({ref.label for ref in refs if ref.label is not None})
    return {"encoder": encoder.key, "content_hash": content, "source": str(source),
            "images": len(refs), "labels": labels or None, "dtype": dtype,
            "image_key": getattr(encoder, "image_key", None)}


def _matches(store: EmbeddingStore, meta: dict[str, Any]) -> bool:
    return all(store.meta.get(k) == meta[k] for k in ("encoder", "content_hash", "dtype"))


def _finished(path: Path, meta: dict[str, Any]) -> EmbeddingStore | None:
    """The complete store at ``path`` for this pool and encoder, or None."""
    if not EmbeddingStore.exists(path):
        return None
    try:
        store = EmbeddingStore.open(path)
    except StoreError:
        return None
    return store if _matches(store, meta) and store.meta.get("complete") else None


def _open_or_create(
    out_dir: Path, encoder: Encoder | KeyedEncoder, meta: dict[str, Any], dtype: str
) -> EmbeddingStore:
    existing = _claim_out_dir(out_dir, meta)
    if existing is not None:
        return existing
    return EmbeddingStore.create(
        out_dir, encoder.dim, encoder.feature_dim, dtype, meta | {"complete": False},
        extra_fields=getattr(encoder, "extra_fields", None),
        features_are_vectors=bool(getattr(encoder, "features_are_vectors", False)))


def _claim_out_dir(out_dir: Path, meta: dict[str, Any]) -> EmbeddingStore | None:
    """The store of this pool and encoder already in ``out_dir`` (finished or not), or None
    once ``out_dir`` is ready for a new store."""
    if not out_dir.exists() or all(p.name.startswith(".") for p in out_dir.iterdir()):
        return None
    if not EmbeddingStore.exists(out_dir):
        raise StoreError(f"{out_dir} is not empty and holds no embedding store")
    store = EmbeddingStore.open(out_dir)
    if _matches(store, meta):
        return store
    if not store.meta.get("complete"):
        raise StoreError(
            f"{out_dir} holds an unfinished embedding of {store.meta.get('source')!r} by "
            f"{store.meta.get('encoder')!r}; delete it or choose another output directory")
    # A finished store of another pool or encoder was published to the cache when it
    # finished, so replacing it (a pool re-embedded with new settings) loses nothing.
    _clear_store(out_dir)
    return None


def _clear_store(folder: Path) -> None:
    for item in folder.iterdir():
        if item.is_file() and item.name != RUN_LOCK:
            item.unlink()


def _derivable_sibling(
    entry: Path, encoder: Encoder | KeyedEncoder, meta: dict[str, Any]
) -> EmbeddingStore | None:
    """A finished cached store of the same pool and image model, with logits to re-derive from."""
    if not isinstance(encoder, LogitsEncoder) or not entry.parent.is_dir():
        return None
    for candidate in sorted(entry.parent.iterdir()):
        if candidate == entry or not EmbeddingStore.exists(candidate):
            continue
        store = EmbeddingStore.open(candidate)
        same = all(store.meta.get(k) == meta[k] for k in ("content_hash", "image_key", "dtype"))
        if same and store.meta.get("complete") and "logits" in store.widths:
            return store
    return None


def _derive(
    sibling: EmbeddingStore, store: EmbeddingStore, encoder: LogitsEncoder,
    progress: Progress | None, rows: int = 8192,
) -> None:
    """Fill ``store`` from a sibling's features and logits, recomputing only the vectors."""
    logits = sibling.field("logits")
    features = sibling.field("features")
    keys = sibling.keys
    for start in range(0, len(sibling), rows):
        stop = min(start + rows, len(sibling))
        chunk = np.asarray(logits[start:stop], np.float32)
        store.append(keys[start:stop], encoder.vectors_from_logits(chunk),
                     np.asarray(features[start:stop]), {"logits": chunk})
        if progress is not None:
            progress(stop, sibling.meta.get("images", len(sibling)))
    skipped = read_skipped(sibling.path)
    if skipped:
        _save_skipped(store.path, skipped)


def read_skipped(store_dir: Path) -> list[tuple[str, str]]:
    """(key, reason) pairs saved beside a store."""
    path = store_dir / SKIPPED_FILE
    if not path.is_file():
        return []
    return [(str(k), str(r)) for k, r in json.loads(path.read_text(encoding="utf-8"))]


def _save_skipped(store_dir: Path, skipped: list[tuple[str, str]]) -> None:
    tmp = store_dir / f".{SKIPPED_FILE}.tmp"
    tmp.write_text(json.dumps(skipped, indent=0), encoding="utf-8")
    os.replace(tmp, store_dir / SKIPPED_FILE)


def _fill(
    store: EmbeddingStore,
    source: ImageSource,
    refs: list[ImageRef],
    encoder: Encoder | KeyedEncoder,
    batch_size: int,
    progress: Progress | None,
) -> None:
    """Encode and append every ref the store has not seen yet, one durable batch at a time."""
    skipped = read_skipped(store.path)
    seen = set(store.keys) | {key for key, _ in skipped}
    todo = [ref.key for ref in refs if ref.key not in seen]
    done = len(refs) - len(todo)
    if progress is not None:
        progress(done, len(refs))
    for keys, images, bad in _prefetched(source, todo, batch_size, encoder):
        batch = _encode(encoder, keys, images)
        store.append(keys, batch.vectors, batch.features, batch.extras)
        if bad:
            skipped.extend(bad)
            _save_skipped(store.path, skipped)
        done += len(keys) + len(bad)
        if progress is not None:
            progress(done, len(refs))


def _encode(encoder: Encoder | KeyedEncoder, keys: list[str], images: list[Image.Image]) -> EncodedBatch:
    if isinstance(encoder, KeyedEncoder):
        return encoder.encode_keys(keys)
    return encoder.encode_images(images)


_Decoded = tuple[list[str], list[Image.Image], list[tuple[str, str]]]


def _decode_batch(
    source: ImageSource, keys: list[str], encoder: Encoder | KeyedEncoder
) -> _Decoded:
    """(usable keys, their images, (key, reason) of unreadable or unknown ones)."""
    good: list[str] = []
    images: list[Image.Image] = []
    bad: list[tuple[str, str]] = []
    for key in keys:
        if isinstance(encoder, KeyedEncoder):
            if encoder.has_key(key):
                good.append(key)
            else:
                bad.append((key, "no precomputed vector for this key"))
            continue
        try:
            images.append(source.open(key))
            good.append(key)
        except UnreadableImageError as exc:
            bad.append((key, exc.reason))
    return good, images, bad


def _prefetched(
    source: ImageSource, keys: list[str], batch_size: int, encoder: Encoder | KeyedEncoder
) -> Iterator[_Decoded]:
    """Decoded batches, the next one decoded in a thread while the current one is encoded."""
    chunks = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[_Decoded] | None = None
        for index in range(len(chunks)):
            current = pending or pool.submit(_decode_batch, source, chunks[index], encoder)
            pending = (pool.submit(_decode_batch, source, chunks[index + 1], encoder)
                       if index + 1 < len(chunks) else None)
            yield current.result()


def _link_store(entry: Path, out_dir: Path, meta: dict[str, Any]) -> EmbeddingStore:
    """``out_dir`` made a copy of the cached store: hard links, or copies across devices."""
    if _claim_out_dir(out_dir, meta) is not None:
        _clear_store(out_dir)  # an unfinished run of the same pool: the cache supersedes it
    out_dir.mkdir(parents=True, exist_ok=True)
    # commit.json last: until it exists, readers see no store at all.
    files = sorted((p for p in entry.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.name == "commit.json")
    for item in files:
        _link_or_copy(item, out_dir / item.name)
    store = EmbeddingStore.open(out_dir)
    store.update_meta(source=meta["source"])
    return store


def _copy_tree(source_dir: Path, target_dir: Path) -> None:
    # Only atomically *replaced* files (commit.json, store.json, skipped.json) ever change in
    # a complete store, so sharing inodes between the cache and out_dir is safe.
    tmp = target_dir.with_name(f".{target_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for item in source_dir.iterdir():
        if item.is_file() and not item.name.startswith("."):
            _link_or_copy(item, tmp / item.name)
    os.replace(tmp, target_dir)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _publish(store_dir: Path, entry: Path) -> None:
    """Put a finished store into the cache (atomic: readers see all of it or nothing)."""
    shutil.rmtree(entry, ignore_errors=True)
    entry.parent.mkdir(parents=True, exist_ok=True)
    _copy_tree(store_dir, entry)


def _result(store: EmbeddingStore, *, from_cache: bool) -> EmbedResult:
    labels = [label_for_key(key) for key in store.keys]
    return EmbedResult(store, read_skipped(store.path), labels, from_cache)

