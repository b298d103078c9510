"""``manage.py embed POOL_SOURCE``: embed a folder or zip of images into an embedding store."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from modeling.engine.embedding import EmbedResult, cache_entry, content_hash, embed_source
from modeling.engine.encoders import available_encoders, create_encoder
from modeling.engine.encoders.paths import default_cache_dir
from modeling.engine.errors import ModelingError
from modeling.engine.images import list_images


class Command(BaseCommand):
    help = (
        "Embed every image of POOL_SOURCE (a folder or .zip of images) with an encoder into an "
        "embedding store (float16 .npy memmaps + id table). Resumable: re-run after a crash "
        "to continue. Cached by content hash and encoder, so a second run over the same pool "
        "finishes in seconds. Unreadable images are skipped and listed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("source", metavar="POOL_SOURCE", help="folder or .zip of images")
        parser.add_argument("--encoder", default="offline",
                            help=f"one of: {', '.join(available_encoders())} (default: offline)")
        parser.add_argument("--out", type=Path, default=None,
                            help="store directory (default: the cache entry of this pool and encoder)")
        parser.add_argument("--cache-dir", type=Path, default=None,
                            help="cache root (default: $AGILE_CACHE_DIR or var/cache)")
        parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
        parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
        parser.add_argument("--int8", action="store_true",
                            help="also keep a per-row-scaled int8 copy of the classifier features "
                                 "(half the bytes to stream when scoring a big pool; 1.5x the disk)")
        parser.add_argument("--threads", type=int, default=None,
                            help="torch CPU threads (default: torch's choice)")
        offline = parser.add_argument_group("offline encoder")
        offline.add_argument("--resolution", type=int, default=None,
                             help="input side in px (default: 160 for tiny images, 224 for photos)")
        clip = parser.add_argument_group("open_clip encoder")
        clip.add_argument("--model", default=None, help="open_clip model name, e.g. ViT-B-32")
        clip.add_argument("--pretrained", default=None, help="open_clip pretrained tag or weights file")
        clip.add_argument("--checkpoint", default=None,
                          help="local weights file, or folder with open_clip_config.json")
        pre = parser.add_argument_group("precomputed encoder")
        pre.add_argument("--vectors", default=None, help=".npy matrix of L2-normalised vectors")
        pre.add_argument("--ids", default=None, help=".txt id table, one image key per line")
        pre.add_argument("--features", default=None, help="optional .npy classifier features")
        pre.add_argument("--normalize", action="store_true", help="rescale vectors to unit norm")
        pre.add_argument("--text-encoder", default=None, help="encoder that made the vectors")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["threads"]:
            import torch

            torch.set_num_threads(options["threads"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            self._run(Path(options["source"]).expanduser(), options)
        except ModelingError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError("interrupted; run the same command again to resume") from None

    def _run(self, source: Path, options: dict[str, Any]) -> None:
        list_images(source)  # a bad source fails before any model is loaded
        encoder = create_encoder(options["encoder"], **_encoder_options(options))
        cache_dir = options["cache_dir"] or default_cache_dir()
        out = options["out"] or _default_out(source, encoder.key, cache_dir)
        self.stdout.write(f"{source} → {out}\nencoder: {encoder.key}")
        started = time.monotonic()
        with tqdm(unit="img", desc="embedding", disable=options["verbosity"] < 1) as bar:
            result = embed_source(source, encoder, out, batch_size=options["batch_size"],
                                  progress=_follow(bar), cache_dir=cache_dir, dtype=options["dtype"])
        if options["int8"] and result.store.int8() is None:
            with tqdm(unit="row", desc="int8 copy", disable=options["verbosity"] < 1) as bar:
                result.store.add_int8("features", progress=_follow(bar))
        self._report(result, time.monotonic() - started)

    def _report(self, result: EmbedResult, seconds: float) -> None:
        origin = "from cache" if result.from_cache else "embedded"
        self.stdout.write(self.style.SUCCESS(
            f"{_count(len(result.store))} {origin} in {seconds:.1f} s → {result.store.path}"))
        if result.store.int8_fields:
            self.stdout.write(f"int8 copy of: {', '.join(result.store.int8_fields)}")
        if result.skipped:
            self.stdout.write(self.style.WARNING(f"{_count(len(result.skipped))} skipped:"))
            for key, reason in result.skipped[:20]:
                self.stdout.write(f"  {key}: {reason}")
            if len(result.skipped) > 20:
                self.stdout.write(f"  ... and {len(result.skipped) - 20} more (see skipped.json)")


def _follow(bar: tqdm) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves ``bar``."""
    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return progress


def _count(images: int) -> str:
    return f"{images} image{'s' if images != 1 else ''}"


def _default_out(source: Path, encoder_key: str, cache_dir: Path) -> Path:
    refs = list_images(source)
    return cache_entry(cache_dir, content_hash(source, [r.key for r in refs]), encoder_key)


def _encoder_options(options: dict[str, Any]) -> dict[str, Any]:
    """The CLI options that belong to the chosen encoder; others given by mistake are errors."""
    per_encoder = {
        "offline": ("resolution",),
        "open_clip": ("model", "pretrained", "checkpoint"),
        "precomputed": ("vectors", "ids", "features", "normalize", "text_encoder"),
        "minilm": (),
    }
    name = options["encoder"]
    allowed = per_encoder.get(name, ())
    given = {k for names in per_encoder.values() for k in names if options.get(k)}
    stray = sorted(given - set(allowed))
    if stray:
        flags = ", ".join("--" + s.replace("_", "-") for s in stray)
        raise CommandError(f"{flags} do(es) not apply to the {name!r} encoder")
    chosen = {k: options[k] for k in allowed if options.get(k) is not None}
    if name == "precomputed" and not (chosen.get("vectors") and chosen.get("ids")):
        raise CommandError("the precomputed encoder needs --vectors FILE.npy and --ids FILE.txt")
    return chosen
