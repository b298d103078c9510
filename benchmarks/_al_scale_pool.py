"""The synthetic pool of ``al_scale.py``: a learnable concept at any width, on disk.

``ensure_pool(rows, dim, seed, cache)`` writes it once (features as float16 and, in the
same pass, the per-row int8 copy the app keeps for big pools) and memory-maps it after.
Files are written with ``pwrite`` (nothing mapped, so the writer's RSS stays small) and
dropped from the page cache as they are written, for the other processes' sake.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modeling.engine.int8 import CODES_FILE, SCALES_FILE, Int8Features, quantize_rows

POOL_VERSION = 3  # v3: width is a parameter; the int8 copy is written with the features
N_CLUSTERS = 256
LATENT = 32  # each cluster varies along its own 32-d subspace (low intrinsic dimension)
CONCEPT_CLUSTERS = 8  # clusters 0..7 hold the concept (positives: latent z_0 > 0)
SIBLINGS_PER_CONCEPT = 2  # clusters 8..23: near the concept clusters, all negative
SPREAD = 0.8  # norm of the within-cluster (subspace) variation; centres have norm 1
ISO_NOISE = 0.3  # norm of the isotropic noise on top
GEN_CHUNK = 65_536


@dataclass(frozen=True)
class SyntheticPool:
    """features: (N, dim) float16 memmap; int8: its per-row int8 copy (codes memmap);
    vectors: the shared-space vectors an index is built on, (N, vdim) float16 memmap
    (the features themselves unless the pool has a narrower space, like the offline
    encoder's 384-d MiniLM space beside its 1280-d features); projection (dim, vdim)
    float32 maps features to vectors (before normalising), None when they are the same;
    labels (N,) int8; clusters (N,) int16; centres (N_CLUSTERS, dim) float32."""

    directory: Path
    features: np.ndarray
    int8: Int8Features
    vectors: np.ndarray
    projection: np.ndarray | None
    labels: np.ndarray
    clusters: np.ndarray
    centres: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def feature_file(self) -> Path:
        return self.directory / "features.f16.npy"

    @property
    def codes_file(self) -> Path:
        return self.directory / "int8" / CODES_FILE


def pool_directory(cache: Path, rows: int, dim: int, seed: int) -> Path:
    return cache / f"al_scale_v{POOL_VERSION}_{rows}x{dim}_seed{seed}"


def vectors_dim_for(dim: int) -> int:
    """Width of the shared space: 384 (the offline encoder's MiniLM space) beside features
    wider than 512, else the features themselves (a CLIP-like encoder)."""
    return 384 if dim > 512 else dim


def ensure_pool(rows: int, dim: int, seed: int, cache: Path, workers: int = 1) -> tuple[SyntheticPool, float | None]:
    """The cached pool for (rows, dim, seed), generated first if missing (and its time)."""
    directory = pool_directory(cache, rows, dim, seed)
    took = None
    if not (directory / "done").exists():
        started = time.perf_counter()
        generate_pool(directory, rows, dim, seed, vectors_dim_for(dim), workers)
        took = time.perf_counter() - started
    return open_pool(directory), took


def open_pool(directory: Path) -> SyntheticPool:
    features = np.load(directory / "features.f16.npy", mmap_mode="r")
    separate = (directory / "vectors.f16.npy").exists()
    return SyntheticPool(
        directory,
        features,
        Int8Features.load(directory / "int8"),
        np.load(directory / "vectors.f16.npy", mmap_mode="r") if separate else features,
        np.load(directory / "projection.npy") if separate else None,
        np.load(directory / "labels.npy"),
        np.load(directory / "clusters.npy"),
        np.load(directory / "centres.npy"),
    )


def cluster_geometry(dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit centres (N_CLUSTERS, dim) and orthonormal subspace bases (N_CLUSTERS, dim, LATENT).

    Sibling clusters sit at cosine ~0.75 from their concept cluster: hard negatives.
    """
    gen = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(N_CLUSTERS, dim, generator=gen), dim=1)
    for j in range(CONCEPT_CLUSTERS * SIBLINGS_PER_CONCEPT):
        parent, row = centres[j // SIBLINGS_PER_CONCEPT], CONCEPT_CLUSTERS + j
        centres[row] = torch.nn.functional.normalize(0.75 * parent + 0.66 * centres[row], dim=0)
    bases = torch.linalg.qr(torch.randn(N_CLUSTERS, dim, LATENT, generator=gen))[0]
    return centres, bases


def projection_matrix(dim: int, vectors_dim: int, seed: int) -> np.ndarray:
    """A fixed Gaussian projection (dim, vectors_dim) float32 from features to the shared
    space: it keeps the clusters apart (Johnson-Lindenstrauss), as a real shared space does."""
    gen = torch.Generator().manual_seed(seed + 77)
    return (torch.randn(dim, vectors_dim, generator=gen) / vectors_dim**0.5).numpy()


def generate_pool(directory: Path, rows: int, dim: int, seed: int, vectors_dim: int | None = None,
                  workers: int = 1) -> None:
    """Write features (float16 .npy), their int8 copy, labels and clusters, in chunks;
    with ``vectors_dim`` (< dim) also shared-space vectors, the normalised projection of
    the features (``projection_matrix``).

    An item of cluster c is ``normalise(centre_c + B_c z * SPREAD/sqrt(LATENT) + noise)``
    with latent z ~ N(0, I_LATENT): real embeddings also vary along few directions per
    region. The concept: the item is in one of the 8 concept clusters AND z_0 > 0 (a
    different direction in each cluster, so no single linear cut finds it); ~1.6%
    positives. ``workers`` processes write disjoint chunks (the same pool for any number).
    """
    (directory / "int8").mkdir(parents=True, exist_ok=True)
    centres, bases = cluster_geometry(dim, seed)
    files = {
        "features": (directory / "features.f16.npy", np.float16, (rows, dim)),
        "codes": (directory / "int8" / CODES_FILE, np.int8, (rows, dim)),
    }
    projection = None
    if vectors_dim is not None and vectors_dim != dim:
        projection = torch.from_numpy(projection_matrix(dim, vectors_dim, seed))
        files["vectors"] = (directory / "vectors.f16.npy", np.float16, (rows, vectors_dim))
        np.save(directory / "projection.npy", projection.numpy())
    for path, dtype, shape in files.values():
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)  # the header, a sparse body
    labels = np.empty(rows, dtype=np.int8)
    clusters = np.empty(rows, dtype=np.int16)
    scales = np.empty(rows, dtype=np.float32)
    starts = list(range(0, rows, GEN_CHUNK))
    job = (files, centres, bases, projection, rows, seed)
    if workers <= 1:
        parts = [_write_chunks(job, starts)]
    else:
        # Chunks are seeded by their position, so any split writes the same pool.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.starmap(_write_chunks, [(job, starts[i::workers]) for i in range(workers)])
    for part in parts:
        for start, (y, c, scale) in part.items():
            labels[start : start + len(y)], clusters[start : start + len(y)], scales[start : start + len(y)] = y, c, scale
    np.save(directory / "int8" / SCALES_FILE, scales)
    np.save(directory / "labels.npy", labels)
    np.save(directory / "clusters.npy", clusters)
    np.save(directory / "centres.npy", centres.numpy())
    (directory / "done").write_text("ok\n")


Job = tuple[dict[str, tuple[Path, type, tuple[int, int]]], torch.Tensor, torch.Tensor, "torch.Tensor | None", int, int]


def _write_chunks(job: Job, starts: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Generate and write the chunks at ``starts``; their (labels, clusters, int8 scales)."""
    files, centres, bases, projection, rows, seed = job
    handles = {name: _RowWriter(path, dtype, shape) for name, (path, dtype, shape) in files.items()}
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    try:
        for start in starts:
            stop = min(start + GEN_CHUNK, rows)
            x, c, z = _generate_chunk(centres, bases, stop - start, seed * 1_000_003 + start // GEN_CHUNK)
            halves = x.half().numpy()
            handles["features"].write(start, halves)
            codes, scale = quantize_rows(halves)
            handles["codes"].write(start, codes)
            if projection is not None:
                vectors = torch.nn.functional.normalize(x @ projection, dim=1)
                handles["vectors"].write(start, vectors.half().numpy())
            labels = ((c < CONCEPT_CLUSTERS) & (z[:, 0] > 0)).numpy().astype(np.int8)
            out[start] = (labels, c.numpy().astype(np.int16), np.asarray(scale, dtype=np.float32))
    finally:
        for handle in handles.values():
            handle.close()
    return out


class _RowWriter:
    """Writes row blocks of a new ``.npy`` file with pwrite and drops them from the page cache."""

    def __init__(self, path: Path, dtype: type, shape: tuple[int, int]) -> None:
        header = np.load(path, mmap_mode="r")  # written by generate_pool
        self.offset = int(header.offset)
        self.row_bytes = int(header.strides[0])
        del header
        self.fd = os.open(path, os.O_WRONLY)

    def write(self, start: int, block: np.ndarray) -> None:
        at = self.offset + start * self.row_bytes
        os.pwrite(self.fd, np.ascontiguousarray(block).tobytes(), at)
        os.fdatasync(self.fd)
        os.posix_fadvise(self.fd, at, block.nbytes, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        os.close(self.fd)


def _generate_chunk(
    centres: torch.Tensor, bases: torch.Tensor, n: int, chunk_seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x (n, dim) unit float32, cluster ids (n,), latents (n, LATENT)) for one chunk."""
    gen = torch.Generator().manual_seed(chunk_seed)
    dim = centres.shape[1]
    c = torch.randint(0, N_CLUSTERS, (n,), generator=gen)
    z = torch.randn(n, LATENT, generator=gen)
    x = centres[c] + torch.randn(n, dim, generator=gen) * (ISO_NOISE / dim**0.5)
    for cluster in torch.unique(c).tolist():
        members = torch.nonzero(c == cluster)[:, 0]
        x[members] += z[members] @ bases[cluster].T * (SPREAD / LATENT**0.5)
    return torch.nn.functional.normalize(x, dim=1), c, z


# --------------------------------------------------------------------------- page cache


def drop_from_page_cache(path: Path) -> None:
    """posix_fadvise(DONTNEED) over the whole file: clean, unmapped pages leave the cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def resident_fraction(path: Path) -> float:
    """Share of ``path``'s bytes in the page cache (util-linux ``fincore``)."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0]) / path.stat().st_size


def drop_until_cold(path: Path, attempts: int = 5) -> float:
    """Drop ``path`` from the page cache until under 1% stays resident (pages mapped or
    in flight at the first try are skipped by the kernel); returns the resident share."""
    resident = 1.0
    for _ in range(attempts):
        drop_from_page_cache(path)
        resident = resident_fraction(path)
        if resident < 0.01:
            break
        time.sleep(1.0)
    return resident


def warm(path: Path, chunk: int = 1 << 26) -> float:
    """Read ``path`` once with plain reads (no mapping) so its pages sit in the cache;
    returns the resident share afterwards (below 1 when the file exceeds free memory)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(chunk):
            pass
    return resident_fraction(path)
