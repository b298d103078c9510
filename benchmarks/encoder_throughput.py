"""Throughput of the offline encoder (images/s) beside the raw EfficientNet-Lite0 it wraps.

Rows, each timed over the same N real CIFAR-10 test images, configurations interleaved
within every repeat so machine-load swings hit them alike (medians over repeats):

- raw model, fp32 / channels_last+bf16, at 160 and 224 px: forward pass on a ready tensor;
- encoder.encode_images with precision fp32, bf16 and "auto" (the default: whichever of
  the two measured faster on this machine, once; ``modeling.engine.kernels``) at 160 px,
  and "auto" at 224 px: resize + normalise + model + ConSE;
- embed_source at the default setting: zip read + JPEG decode + encoder + durable store.

Usage: .venv/bin/python benchmarks/encoder_throughput.py [--images 256] [--repeats 3]
       [--threads 2] [--json]   (with --json the last line is one JSON object)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from modeling.engine.embedding import embed_source
from modeling.engine.encoders import create_encoder
from modeling.engine.encoders.effnet import CROP_PCT, MEAN, STD, load_efficientnet_lite0
from modeling.engine.encoders.offline import OfflineEncoder
from modeling.engine.encoders.paths import shared_data_dir
from modeling.engine.encoders.preprocess import to_tensor

BATCH = 64


def load_images(count: int) -> tuple[list[Image.Image], dict[str, bytes]]:
    """The first ``count // 10`` test images of each class (decoded, and as raw JPEG bytes)."""
    per_class = max(1, count // 10)
    raw: dict[str, bytes] = {}
    with zipfile.ZipFile(shared_data_dir() / "cifar10" / "test.zip") as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
        by_class: dict[str, list[str]] = {}
        for name in names:
            by_class.setdefault(name.split("/")[0], []).append(name)
        for members in by_class.values():
            for name in members[:per_class]:
                raw[name] = archive.read(name)
    images = [Image.open(io.BytesIO(data)).convert("RGB") for data in raw.values()]
    return images, raw


def raw_model_run(images: list[Image.Image], size: int, bf16: bool) -> Callable[[], None]:
    """A closure running only the network on ready tensors (preprocessing excluded)."""
    model = load_efficientnet_lite0()
    tensors = [to_tensor(images[i : i + BATCH], size, CROP_PCT, MEAN, STD)
               for i in range(0, len(images), BATCH)]

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            for batch in tensors:
                model(batch)

    return run


def encoder_run(images: list[Image.Image], size: int, precision: str = "auto") -> Callable[[], None]:
    encoder = create_encoder("offline", resolution=size, precision=precision)
    assert isinstance(encoder, OfflineEncoder)
    encoder.class_vectors()  # text side computed once, outside the timing

    def run() -> None:
        encoder.encode_images(images)

    return run


def pipeline_run(raw: dict[str, bytes], workdir: Path) -> Callable[[], None]:
    """embed_source over a zip of the same images, into a fresh store (cache bypassed)."""
    archive = workdir / "pool.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in raw.items():
            out.writestr(name, data)
    encoder = create_encoder("offline")
    counter = iter(range(10**6))

    def run() -> None:
        run_id = next(counter)
        embed_source(archive, encoder, workdir / f"out{run_id}", cache_dir=workdir / f"cache{run_id}")

    return run


def measure(runs: dict[str, Callable[[], None]], count: int, repeats: int) -> dict[str, list[float]]:
    """images/s of every run, per repeat; one warm-up call each first."""
    for run in runs.values():
        run()
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            rates[name].append(count / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="images per timed run (default 256)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, raw = load_images(args.images)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "raw fp32 @160": raw_model_run(images, 160, bf16=False),
            "raw bf16 @160": raw_model_run(images, 160, bf16=True),
            "raw fp32 @224": raw_model_run(images, 224, bf16=False),
            "raw bf16 @224": raw_model_run(images, 224, bf16=True),
            "encoder fp32 @160": encoder_run(images, 160, "fp32"),
            "encoder bf16 @160": encoder_run(images, 160, "bf16"),
            "encoder auto @160": encoder_run(images, 160),
            "encoder auto @224": encoder_run(images, 224),
            "embed_source (zip → store) @160": pipeline_run(raw, Path(tmp)),
        }
        rates = measure(runs, len(images), args.repeats)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    report(medians, rates, len(images), args, (load_before, os.getloadavg()[0]))


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def report(medians: dict[str, float], rates: dict[str, list[float]], count: int,
           args: argparse.Namespace, load: tuple[float, float]) -> None:
    chosen = OfflineEncoder().settings.precision  # what "auto" resolved to on this machine
    print(f"offline encoder throughput on {cpu_name()}: {count} CIFAR-10 test images, batch {BATCH}, "
          f"{args.threads} torch threads, median of {args.repeats} interleaved repeats; "
          f"load average {load[0]:.1f} → {load[1]:.1f} on {os.cpu_count()} cores; auto chose {chosen}")
    print(f"| {'configuration':<34} | img/s (median) | runs (img/s) | vs raw fp32 same px |")
    print(f"|{'-' * 36}|----------------|--------------|---------------------|")
    for name, median in medians.items():
        size = name.split("@")[-1]
        ratio = median / medians[f"raw fp32 @{size}"]
        runs = " ".join(f"{r:.0f}" for r in rates[name])
        print(f"| {name:<34} | {median:14.1f} | {runs:>12} | {ratio:19.2f} |")
    speedup = medians["encoder auto @160"] / medians["encoder auto @224"]
    bf16_gain = medians["raw bf16 @224"] / medians["raw fp32 @224"]
    auto_gain = medians["encoder auto @160"] / medians["encoder bf16 @160"]
    print(f"encoder 160 vs 224 px: {speedup:.2f}x; raw bf16 vs fp32 at 224: {bf16_gain:.2f}x; "
          f"encoder auto vs bf16 at 160: {auto_gain:.2f}x")
    if args.json:
        print(json.dumps({"benchmark": "encoder_throughput", "images": count, "threads": args.threads,
                          "repeats": args.repeats, "load_average": list(load), "cpu": cpu_name(),
                          "auto_precision": chosen, "auto_vs_bf16_160": round(auto_gain, 3),
                          "median_images_per_s": {k: round(v, 2) for k, v in medians.items()},
                          "runs_images_per_s": {k: [round(r, 2) for r in v] for k, v in rates.items()},
                          "speedup_160_vs_224": round(speedup, 3),
                          "bf16_vs_fp32_224": round(bf16_gain, 3)}))


if __name__ == "__main__":
    main()
