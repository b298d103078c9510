"""This machine's kernel speeds and the floor they imply for a classifier head.

``gemm_rates(shapes)``: GFLOP/s (GOP/s for integer kernels) of every matmul kernel torch
offers here, per layer shape ``(in, out)``, on ``ROWS`` rows held in memory (inputs
small enough to stay in the L3 cache at 1280-d int8). ``read_rate(path)``: GB/s of
``preadv`` from a warm file into a reused buffer, the way scoring reads a pool.
``floor(widths, rows, rates, source_bytes, read_gbs)``: the seconds a pass over the pool
cannot beat: every layer at the best kernel's rate, or reading the bytes, whichever
is longer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from modeling.engine.trainer.paths import Int8Layer, available

ROWS = 4_096
KERNELS = ("fp32", "bf16", "fp16", "int8 oneDNN (u8 x s8, 7-bit weights)", "int8 torch._int_mm")
Shape = tuple[int, int]


def _kernel(name: str, rows: int, shape: Shape) -> Callable[[], object] | None:
    """A zero-argument run of one (rows, in) x (in, out) product, or None if unsupported."""
    k, n = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(rows, k, generator=gen)
    w = torch.randn(n, k, generator=gen) * 0.05
    b = torch.zeros(n)
    if name in ("fp32", "bf16", "fp16"):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
        xd, wd, bd = x.to(dtype), w.to(dtype), b.to(dtype)  # weights (out, in), as scoring holds them
        out = torch.empty(rows, n, dtype=dtype)
        return lambda: torch.addmm(bd, xd, wd.T, out=out)
    if name.startswith("int8 oneDNN"):
        if "int8" not in available():
            return None
        layer = Int8Layer.of(w, b, rows)
        xu = (x * 255).to(torch.uint8)
        return lambda: layer(xu, 1 / 255, bias=False, relu=False)
    if name == "int8 torch._int_mm":
        if n % 8 or k % 8 or rows % 8:
            return None
        xi = (x * 127).to(torch.int8)
        wi = (w * 127 / w.abs().max()).to(torch.int8).T.contiguous()
        return lambda: torch._int_mm(xi, wi)
    raise ValueError(name)


def gemm_rates(shapes: list[Shape], repeats: int = 3, rows: int = ROWS) -> dict[Shape, dict[str, float | None]]:
    """GFLOP/s per kernel per shape: best of ``repeats`` timings of enough calls to last
    ~0.1 s, kernels interleaved within each repeat."""
    rates: dict[Shape, dict[str, float | None]] = {}
    for shape in shapes:
        runs = {name: _kernel(name, rows, shape) for name in KERNELS}
        calls = {name: _calls_for(run) for name, run in runs.items() if run is not None}
        best = {name: float("inf") for name in calls}
        with torch.inference_mode():
            for _ in range(repeats):
                for name, count in calls.items():
                    run = runs[name]
                    assert run is not None
                    started = time.perf_counter()
                    for _ in range(count):
                        run()
                    best[name] = min(best[name], (time.perf_counter() - started) / count)
        flops = 2.0 * rows * shape[0] * shape[1]
        rates[shape] = {name: (flops / best[name] / 1e9 if name in best else None) for name in KERNELS}
    return rates


def _calls_for(run: Callable[[], object], target: float = 0.1) -> int:
    with torch.inference_mode():
        run()
        started = time.perf_counter()
        run()
        once = max(time.perf_counter() - started, 1e-6)
    return max(1, min(1000, int(target / once)))


def read_rate(path: Path, buffer_bytes: int = 5 << 20, limit: int = 4 << 30) -> float:
    """GB/s of preadv from ``path`` (already in the page cache) into one reused buffer,
    over its first ``limit`` bytes."""
    buffer = memoryview(np.empty(buffer_bytes, dtype=np.uint8))
    fd = os.open(path, os.O_RDONLY)
    try:
        done, started = 0, time.perf_counter()
        while done < limit:
            got = os.preadv(fd, [buffer], done)
            if got <= 0:
                break
            done += got
        return done / (time.perf_counter() - started) / 1e9
    finally:
        os.close(fd)


def floor(widths: list[int], rows: int, rates: dict[Shape, dict[str, float | None]], source_bytes: int,
          read_gbs: float) -> dict[str, object]:
    """Seconds a pass over ``rows`` rows of a head with layer ``widths`` (d, h1, ..., 1)
    cannot beat here, and the kernel that sets it per layer."""
    compute, per_layer = 0.0, []
    for shape in zip(widths[:-1], widths[1:]):
        known = {k: v for k, v in rates[shape].items() if v}
        kernel = max(known, key=lambda k: known[k])
        seconds = 2.0 * rows * shape[0] * shape[1] / (known[kernel] * 1e9)
        compute += seconds
        per_layer.append({"shape": list(shape), "kernel": kernel, "gflops": round(known[kernel], 1),
                          "seconds": round(seconds, 3)})
    reading = source_bytes / (read_gbs * 1e9)
    return {"compute_seconds": compute, "read_seconds": reading, "seconds": max(compute, reading),
            "bound": "compute" if compute >= reading else "reading", "layers": per_layer}
