"""Embedding store: appendable ``.npy`` memmaps (one per field) plus an id table, crash-safe.

Layout of a store directory::

    store.json     format, dtype, field widths, meta (encoder key, source, ...)
    commit.json    {"rows": n, "keys_bytes": b}: the commit point, replaced atomically
    keys.txt       one key per line, row order
    vectors.npy    (n, dim) shared-space vectors
    features.npy   (n, feature_dim) classifier features (absent when they are the vectors)
    <extra>.npy    any extra per-row matrix, e.g. logits (n, 1000)
    <field>.int8.npy, <field>.scale.npy
                   optional int8 copy of a field: codes (n, width) int8 and per-row
                   scales (n, 1) float32 (``add_int8``; appends keep it in step)

Each ``.npy`` has a fixed 128-byte header, so rows are appended in place and the header's
shape rewritten afterwards; every file stays loadable with ``np.load(mmap_mode="r")``.
An append writes the rows and keys, fsyncs them, then atomically replaces ``commit.json``.
Readers only look at the first ``rows`` rows of the last commit, so they never see torn
rows; a writer that died mid-append leaves bytes past the commit, which the next append
truncates. One writer at a time (an advisory ``flock``); any number of readers.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modeling.engine.errors import DimensionMismatchError, ModelingError
from modeling.engine.int8 import Int8Features, quantize_rows

FORMAT = "agile-embeddings/1"
HEADER_BYTES = 128
DTYPES = ("float16", "float32")
BASE_FIELDS = ("vectors", "features")


class StoreError(ModelingError):
    """The store directory is missing, corrupt, locked, or the append is invalid."""


Progress = Callable[[int, int], None]


def _npy_header(dtype: np.dtype[Any], rows: int, width: int) -> bytes:
    """A version-1.0 ``.npy`` header padded to exactly HEADER_BYTES."""
    text = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': ({rows}, {width}), }}"
    body = text.ljust(HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
            return data
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc


class EmbeddingStore:
    """Row-aligned keys, shared-space vectors, classifier features and extras of one pool.

    ``vectors`` (n, dim), ``features`` (n, feature_dim) and ``field(name)`` are read-only
    memmaps in the store dtype (float16 by default); ``iter_chunks`` yields float32 chunks.
    """

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self._info = info
        self.dtype = np.dtype(info["dtype"])
        self._rows = 0
        self._keys_bytes = 0
        self._keys: list[str] | None = None
        self._key_set: set[str] | None = None
        self._maps: dict[str, np.ndarray] = {}
        self.refresh()

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        dim: int,
        feature_dim: int,
        dtype: str = "float16",
        meta: dict[str, Any] | None = None,
        *,
        extra_fields: Mapping[str, int] | None = None,
        features_are_vectors: bool = False,
    ) -> EmbeddingStore:
        """An empty store at ``path`` (a new or empty directory).

        extra_fields: name → width of further per-row matrices (e.g. {"logits": 1000}).
        features_are_vectors: the encoder has no separate features; ``features`` then
            reads the vectors file instead of storing the same numbers twice.
        """
        if dtype not in DTYPES:
            raise StoreError(f"store dtype must be one of {DTYPES}, got {dtype!r}")
        if path.exists() and any(not p.name.startswith(".") for p in path.iterdir()):
            raise StoreError(f"cannot create a store in {path}: the directory is not empty")
        widths = {"vectors": dim} | ({} if features_are_vectors else {"features": feature_dim})
        widths |= dict(extra_fields or {})
        if any(w < 1 for w in widths.values()) or feature_dim < 1:
            raise DimensionMismatchError(f"store field widths must be positive: {widths}")
        path.mkdir(parents=True, exist_ok=True)
        for name, width in widths.items():
            (path / f"{name}.npy").write_bytes(_npy_header(np.dtype(dtype), 0, width))
        (path / "keys.txt").write_bytes(b"")
        info = {"format": FORMAT, "dtype": dtype, "fields": widths, "dim": dim,
                "feature_dim": feature_dim, "features_are_vectors": features_are_vectors,
                "meta": dict(meta or {})}
        _write_json_atomic(path / "store.json", info)
        _write_json_atomic(path / "commit.json", {"rows": 0, "keys_bytes": 0})
        return cls(path, info)

    @classmethod
    def open(cls, path: Path) -> EmbeddingStore:
        """The committed rows of the store at ``path`` (raises StoreError if there is none)."""
        if not (path / "store.json").is_file():
            raise StoreError(f"no embedding store at {path}")
        info = _read_json(path / "store.json")
        if info.get("format") != FORMAT:
            raise StoreError(f"{path} holds format {info.get('format')!r}, expected {FORMAT!r}")
        return cls(path, info)

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / "store.json").is_file() and (path / "commit.json").is_file()

    def __repr__(self) -> str:
        widths = ", ".join(f"{k}={v}" for k, v in self.widths.items())
        return f"EmbeddingStore({str(self.path)!r}, rows={self._rows}, {self.dtype}, {widths})"

    # ---- reading -------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self._info["dim"])

    @property
    def feature_dim(self) -> int:
        return int(self._info["feature_dim"])

    @property
    def widths(self) -> dict[str, int]:
        """Stored fields and their widths (``features`` absent when it aliases vectors)."""
        return dict(self._info["fields"])

    @property
    def fields(self) -> list[str]:
        """Every readable field, including ``features`` when it aliases the vectors."""
        return sorted(set(self.widths) | {"features"})

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self._info["meta"]
        return meta

    def __len__(self) -> int:
        return self._rows

    def refresh(self) -> None:
        """Re-read the commit point (to see rows another process appended)."""
        commit = _read_json(self.path / "commit.json")
        if commit["rows"] != self._rows:
            self._maps.clear()
            self._keys = self._key_set = None
        self._rows, self._keys_bytes = int(commit["rows"]), int(commit["keys_bytes"])

    @property
    def keys(self) -> list[str]:
        """Row keys in row order (committed rows only)."""
        if self._keys is None:
            with open(self.path / "keys.txt", "rb") as handle:
                data = handle.read(self._keys_bytes)
            self._keys = data.decode("utf-8").splitlines()
            if len(self._keys) != self._rows:
                raise StoreError(f"{self.path}: {len(self._keys)} keys for {self._rows} rows")
        return self._keys

    def field(self, name: str) -> np.ndarray:
        """Read-only ``(n, width)`` memmap of one field, in the store dtype."""
        return self._mapped(self._stored_name(name))

    def _mapped(self, file_name: str) -> np.ndarray:
        """Read-only ``(rows, width)`` view of one row-aligned file (see :meth:`_files`)."""
        if file_name not in self._maps:
            dtype, width = self._files()[file_name]
            if self._rows == 0:
                empty = np.zeros((0, width), dtype)
                empty.flags.writeable = False
                self._maps[file_name] = empty
            else:
                self._maps[file_name] = np.memmap(self.path / f"{file_name}.npy", dtype, "r",
                                                  offset=HEADER_BYTES, shape=(self._rows, width))
        return self._maps[file_name]

    @property
    def vectors(self) -> np.ndarray:
        return self.field("vectors")

    def _stored_name(self, name: str) -> str:
        """The field that holds ``name``'s numbers (``features`` may alias ``vectors``)."""
        stored = "vectors" if name == "features" and self._info["features_are_vectors"] else name
        if stored not in self.widths:
            raise StoreError(f"store has no field {name!r}; fields: {self.fields}")
        return stored

    @property
    def int8_fields(self) -> list[str]:
        """Stored fields that also keep an int8 copy."""
        return list(self._info.get("int8", []))

    def int8(self, name: str = "features") -> Int8Features | None:
        """The int8 copy of one field (codes memmap, scales), or None if it has none."""
        stored = self._stored_name(name)
        if stored not in self.int8_fields:
            return None
        return Int8Features(self._mapped(f"{stored}.int8"), self._mapped(f"{stored}.scale").reshape(-1))

    def scoring_features(self) -> np.ndarray | Int8Features:
        """What a classifier should stream to score the pool: the int8 copy of
        ``features`` when the store keeps one, else the features themselves."""
        copy = self.int8("features")
        return self.features if copy is None else copy

    @property
    def features(self) -> np.ndarray:
        return self.field("features")

    def iter_chunks(
        self, field: str = "features", rows: int = 16384
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(start_row, float32 chunk of up to `rows` rows)`` over one field, in order."""
        matrix = self.field(field)
        for start in range(0, self._rows, rows):
            yield start, np.asarray(matrix[start : start + rows], dtype=np.float32)

    # ---- writing -------------------------------------------------------------------------

    def update_meta(self, **changes: Any) -> None:
        """Merge ``changes`` into ``meta`` and save it atomically."""
        self._info["meta"] = self.meta | changes
        _write_json_atomic(self.path / "store.json", self._info)

    def append(
        self,
        keys: Sequence[str],
        vectors: np.ndarray,
        features: np.ndarray | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append rows; durable (fsynced and committed) when this returns.

        keys: n new, unique keys without line breaks. vectors: (n, dim). features:
        (n, feature_dim), ignored when features alias the vectors. extras: every extra
        field of the store, each (n, width).
        """
        columns = self._columns(keys, vectors, features, extras)
        if not keys:
            return
        with self._writer_lock():
            self.refresh()
            self._check_new_keys(keys)
            for file_name, matrix in self._physical_columns(columns).items():
                self._append_rows(file_name, matrix)
            keys_bytes = self._append_keys(keys)
            new_rows = self._rows + len(keys)
            _write_json_atomic(self.path / "commit.json", {"rows": new_rows, "keys_bytes": keys_bytes})
            for file_name, (dtype, width) in self._files().items():
                self._write_header(file_name, dtype, new_rows, width)
            if self._keys is not None:
                self._keys.extend(keys)
            if self._key_set is not None:
                self._key_set.update(keys)
            self._rows, self._keys_bytes = new_rows, keys_bytes
            self._maps.clear()

    def _columns(
        self,
        keys: Sequence[str],
        vectors: np.ndarray,
        features: np.ndarray | None,
        extras: Mapping[str, np.ndarray] | None,
    ) -> dict[str, np.ndarray]:
        given = {"vectors": vectors, "features": features} | dict(extras or {})
        columns: dict[str, np.ndarray] = {}
        for name, width in self.widths.items():
            matrix = given.get(name)
            if matrix is None:
                raise StoreError(f"append is missing the {name!r} field")
            matrix = np.asarray(matrix)
            if matrix.shape != (len(keys), width):
                raise DimensionMismatchError(
                    f"{name} has shape {matrix.shape}, expected ({len(keys)}, {width})")
            if not np.isfinite(matrix).all():
                raise StoreError(f"{name} holds NaN or infinite values")
            columns[name] = np.ascontiguousarray(matrix, dtype=self.dtype)
        return columns

    def _check_new_keys(self, keys: Sequence[str]) -> None:
        bad = [k for k in keys if not isinstance(k, str) or not k or "\n" in k or "\r" in k]
        if bad:
            raise StoreError(f"keys must be non-empty strings without line breaks: {bad[:3]}")
        if self._key_set is None:
            self._key_set = set(self.keys)
        if len(set(keys)) != len(keys) or not self._key_set.isdisjoint(keys):
            raise StoreError("keys must be unique across the store")

    def add_int8(self, name: str = "features", chunk_rows: int = 65_536, progress: Progress | None = None) -> None:
        """Keep an int8 copy of field ``name`` from now on (a no-op if it has one).

        Quantises the committed rows in chunks (``progress(rows_done, rows)``), fsyncs,
        and only then records the copy in ``store.json``: a crash part-way leaves the
        store as it was. Later appends extend the copy in the same commit as the field.
        Other open handles see the copy after re-opening the store.
        """
        stored = self._stored_name(name)
        with self._writer_lock():
            self.refresh()
            if stored in self.int8_fields:
                return
            source, width = self.field(stored), self.widths[stored]
            with open(self.path / f"{stored}.int8.npy", "wb") as codes_file, \
                    open(self.path / f"{stored}.scale.npy", "wb") as scales_file:
                codes_file.write(_npy_header(np.dtype(np.int8), self._rows, width))
                scales_file.write(_npy_header(np.dtype(np.float32), self._rows, 1))
                for start in range(0, self._rows, chunk_rows):
                    codes, scales = quantize_rows(source[start : start + chunk_rows])
                    codes_file.write(codes.tobytes())
                    scales_file.write(scales.tobytes())
                    if progress is not None:
                        progress(min(start + chunk_rows, self._rows), self._rows)
                for handle in (codes_file, scales_file):
                    handle.flush()
                    os.fsync(handle.fileno())
            self._info["int8"] = sorted({*self.int8_fields, stored})
            _write_json_atomic(self.path / "store.json", self._info)
            self._maps.clear()

    def _files(self) -> dict[str, tuple[np.dtype[Any], int]]:
        """Every row-aligned ``.npy`` file of the store: name → (dtype, width)."""
        files = {name: (self.dtype, width) for name, width in self.widths.items()}
        for name in self.int8_fields:
            files[f"{name}.int8"] = (np.dtype(np.int8), self.widths[name])
            files[f"{name}.scale"] = (np.dtype(np.float32), 1)
        return files

    def _physical_columns(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The rows to write to each file: the fields, plus codes and scales of int8 copies."""
        physical = dict(columns)
        for name in self.int8_fields:
            codes, scales = quantize_rows(columns[name])
            physical[f"{name}.int8"], physical[f"{name}.scale"] = codes, scales[:, None]
        return physical

    def _append_rows(self, name: str, matrix: np.ndarray) -> None:
        committed = HEADER_BYTES + self._rows * matrix.shape[1] * matrix.dtype.itemsize
        with open(self.path / f"{name}.npy", "r+b") as handle:
            handle.truncate(committed)  # drop a torn tail left by a crashed writer
            handle.seek(committed)
            handle.write(matrix.tobytes())
            handle.flush()
            os.fsync(handle.fileno())

    def _append_keys(self, keys: Sequence[str]) -> int:
        data = "".join(f"{key}\n" for key in keys).encode("utf-8")
        with open(self.path / "keys.txt", "r+b") as handle:
            handle.truncate(self._keys_bytes)
            handle.seek(self._keys_bytes)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return self._keys_bytes + len(data)

    def _write_header(self, name: str, dtype: np.dtype[Any], rows: int, width: int) -> None:
        with open(self.path / f"{name}.npy", "r+b") as handle:
            handle.write(_npy_header(dtype, rows, width))

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        with open(self.path / ".lock", "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(f"{self.path} is being written by another process") from exc
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
