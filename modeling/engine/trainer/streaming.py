"""Reading big (memmapped) feature arrays chunk by chunk without holding them in RSS.

Scanning a 10 GB float16 memmap maps every page into the process: its RSS climbs to
10 GB although the data sits in the shared page cache and costs no private memory.
After each chunk we ``madvise(MADV_DONTNEED)`` the rows just read. On a shared file
mapping that only drops the page-table entries: the page cache keeps the data (a later
pass still reads it from RAM), but RSS stays at one chunk. Private (copy-on-write)
mappings are left alone, since there it would discard written data.
"""

from __future__ import annotations

import mmap
import warnings
from collections.abc import Iterator

import numpy as np
import torch

_PAGE = mmap.PAGESIZE


def iter_row_chunks(array: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, stop, rows)`` over ``array`` (N, d); ``rows`` is a zero-copy tensor
    view, valid until the next step (its mapped pages are released afterwards)."""
    n_rows = array.shape[0]
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        # Ask the kernel to read the next chunk while this one is computed (a cold pool
        # otherwise waits on small page-fault readaheads); a no-op when it is cached.
        advise_rows(array, stop, min(stop + chunk_rows, n_rows), mmap.MADV_WILLNEED)
        yield start, stop, as_tensor(array[start:stop])
        # From the previous chunk's start: the kernel's fault-around maps up to 64 kB of
        # cached pages on each side of a faulting page, re-mapping some released ones.
        release_rows(array, max(0, start - chunk_rows), stop)


def as_tensor(rows: np.ndarray) -> torch.Tensor:
    """A tensor view of ``rows`` (copied only when not C-contiguous)."""
    with warnings.catch_warnings():
        # Read-only memmaps make torch warn that writes would be undefined; we never write.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(rows))


def release_rows(array: np.ndarray, start: int, stop: int) -> None:
    """Drop the page mappings of rows ``[start, stop)`` of a shared-file memmap (no-op
    for anything else). Only whole pages inside the range are released."""
    advise_rows(array, start, stop, mmap.MADV_DONTNEED)


def advise_rows(array: np.ndarray, start: int, stop: int, advice: int) -> None:
    """``madvise(advice)`` on the whole pages holding rows ``[start, stop)`` of a
    shared-file memmap; a no-op for in-memory or copy-on-write arrays."""
    region = _shared_mapping(array)
    stop = min(stop, array.shape[0])
    if region is None or not array.flags.c_contiguous or stop <= start:
        return
    mapping, offset = region
    row_bytes = array.strides[0]
    first = -(-(offset + start * row_bytes) // _PAGE) * _PAGE
    last = (offset + stop * row_bytes) // _PAGE * _PAGE
    if last > first:
        mapping.madvise(advice, first, last - first)


def _shared_mapping(array: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The shared ``mmap`` behind ``array`` and the byte offset of its row 0 in it."""
    node: object = array
    while isinstance(node, np.ndarray):
        if isinstance(node, np.memmap) and getattr(node, "mode", "c") == "c":
            return None
        if isinstance(node.base, mmap.mmap):
            mapping = node.base
            if mapping.closed:
                return None
            start = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
            return mapping, int(array.ctypes.data) - int(start)
        node = node.base
    return None
