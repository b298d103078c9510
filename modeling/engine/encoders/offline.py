"""The offline default encoder: EfficientNet-Lite0 + all-MiniLM-L6-v2 joined by ConSE.

Images: EfficientNet-Lite0 gives 1280-d pooled features (the classifier's input) and
1,000 ImageNet logits; ConSE turns the logits into a 384-d point of MiniLM's text space.
Texts: a phrase, written as ``"a photo of a <phrase>"``, is its MiniLM vector.
The chosen settings (measured on CIFAR-10, see docs/encoders.md) live in OfflineSettings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from modeling.engine.encoders.base import EncodedBatch, EncoderLoadError, Progress, batched
from modeling.engine.encoders.conse import (
    CLASS_TEXT_FORMS,
    PHRASE_FORMS,
    class_text_vectors,
    conse_vectors,
)
from modeling.engine.encoders.effnet import (
    CROP_PCT,
    FEATURE_DIM,
    MEAN,
    STD,
    load_efficientnet_lite0,
)
from modeling.engine.encoders.minilm import MINILM_DIM, minilm_encode
from modeling.engine.encoders.paths import default_cache_dir
from modeling.engine.encoders.preprocess import to_tensor


@dataclass(frozen=True)
class OfflineSettings:
    """Every knob that changes the offline encoder's outputs (the defaults are the chosen ones).

    top: ConSE's T, how many top ImageNet classes are mixed.
    temperature: softmax temperature over the logits.
    class_text: how a class is written (a key of conse.CLASS_TEXT_FORMS).
    phrase: how a phrase is written (a key of conse.PHRASE_FORMS).
    resolution: input side in px; None = 160 for images no larger than ``small_side`` px
        on their longer side (upsampled anyway, no loss measured), 224 for real photos.
    precision: "auto" (default: whichever of the two is faster on this machine, measured
        once and remembered, see ``modeling.engine.kernels``), "bf16" (autocast; 2-4x
        faster than fp32 on CPUs with AVX512-BF16 or AMX, ~10x slower on AVX2-only ones,
        where torch emulates it; cosine .997 to fp32) or "fp32". The key names the
        precision that really ran, so stores made with either stay apart.
    crop_small, crop_large: fraction of the resized image kept by the centre crop, for
        small images (longer side <= ``small_side``) and for photos; the key names them only
        when they differ from timm's 0.875, so keys stay short and stable.
    """

    # Chosen by benchmarks/conse_tuning.py (dev split of CIFAR-10 train; docs/encoders.md).
    top: int = 50
    temperature: float = 4.0
    class_text: str = "lemma_gloss"
    phrase: str = "photo"
    resolution: int | None = None
    small_side: int = 96
    precision: str = "auto"
    # Thumbnails are upsampled whole: their border holds object, not clutter (+.03 mAP).
    crop_small: float = 1.0
    crop_large: float = CROP_PCT

    def validate(self) -> OfflineSettings:
        if self.top < 1 or self.temperature <= 0:
            raise EncoderLoadError(f"ConSE needs top >= 1 and temperature > 0, got {self}")
        if self.class_text not in CLASS_TEXT_FORMS or self.phrase not in PHRASE_FORMS:
            raise EncoderLoadError(
                f"class_text must be one of {sorted(CLASS_TEXT_FORMS)}, "
                f"phrase one of {sorted(PHRASE_FORMS)}"
            )
        if self.precision not in ("auto", "bf16", "fp32"):
            raise EncoderLoadError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        if self.resolution is not None and not 32 <= self.resolution <= 1024:
            raise EncoderLoadError(f"resolution must be in 32..1024 px, got {self.resolution}")
        if not (0.5 <= self.crop_small <= 1.0 and 0.5 <= self.crop_large <= 1.0):
            raise EncoderLoadError(f"crops must be in 0.5..1.0, got {self.crop_small}, {self.crop_large}")
        return self

    def resolution_for(self, image: Image.Image) -> int:
        if self.resolution is not None:
            return self.resolution
        return 160 if max(image.size) <= self.small_side else 224

    def input_for(self, image: Image.Image) -> tuple[int, float]:
        """(input side in px, centre-crop fraction) for one image."""
        small = max(image.size) <= self.small_side
        return self.resolution_for(image), self.crop_small if small else self.crop_large

    @property
    def _image_part(self) -> str:
        res = f"res{self.resolution}" if self.resolution else f"res160-224@{self.small_side}"
        crops = (self.crop_small, self.crop_large)
        crop = "" if crops == (CROP_PCT, CROP_PCT) else f"/crop{crops[0]:g}-{crops[1]:g}"
        return f"{res}/{self.precision}{crop}"

    @property
    def key(self) -> str:
        res, image_rest = self._image_part.split("/", 1)
        return (
            f"offline-conse/effnet-lite0/minilm-l6/T{self.top}/temp{self.temperature:g}/{res}"
            f"/cls-{self.class_text}/phr-{self.phrase}/{image_rest}"
        )

    @property
    def image_key(self) -> str:
        """The settings that change features and logits (the image model's part of ``key``)."""
        return f"effnet-lite0/{self._image_part}"


DEFAULT_SETTINGS = OfflineSettings()
#: Images per precision probe: enough for a stable timing, ~0.1 s in fp32 on 2 cores.
_PROBE_IMAGES = 8


def fastest_precision() -> str:
    """"fp32" or "bf16", whichever runs EfficientNet-Lite0 faster here (measured once per
    machine, torch version and thread count; fp32 unless bf16 is clearly faster)."""
    from modeling.engine.kernels import choose

    model = load_efficientnet_lite0()
    batch = torch.zeros((_PROBE_IMAGES, 3, 160, 160)).contiguous(memory_format=torch.channels_last)

    def run(bf16: bool) -> None:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            model(batch)

    return choose("effnet-lite0-precision", {"fp32": lambda: run(False), "bf16": lambda: run(True)}, repeats=2)


class OfflineEncoder:
    """EfficientNet-Lite0 features + ConSE vectors in MiniLM space (384-d).

    ``encode_images`` returns vectors (n, 384), features (n, 1280) and the extra
    ``logits`` (n, 1000) so ConSE can be retuned from a store.
    """

    dim = MINILM_DIM
    feature_dim = FEATURE_DIM
    extra_fields: ClassVar[dict[str, int]] = {"logits": 1000}

    def __init__(
        self, settings: OfflineSettings = DEFAULT_SETTINGS, batch_size: int = 64,
        cache_dir: Path | None = None,
    ) -> None:
        settings = settings.validate()
        if settings.precision == "auto":
            settings = replace(settings, precision=fastest_precision())
        self.settings = settings
        self.batch_size = batch_size
        self.key = settings.key
        self.image_key = settings.image_key
        self._cache_dir = (cache_dir or default_cache_dir()) / "conse"
        self._class_vectors: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"OfflineEncoder(key={self.key!r})"

    def class_vectors(self) -> np.ndarray:
        """float32 ``(1000, 384)`` MiniLM vectors of the ImageNet class texts."""
        if self._class_vectors is None:
            self._class_vectors = class_text_vectors(
                self.settings.class_text, minilm_encode, self._cache_dir
            )
        return self._class_vectors

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(n, 384)``: MiniLM vectors of the phrases, written per ``settings.phrase``."""
        writer = PHRASE_FORMS[self.settings.phrase]
        return minilm_encode([writer(text) for text in texts])

    def encode_images(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> EncodedBatch:
        """Vectors (n, 384) L2-normalised, features (n, 1280), extras["logits"] (n, 1000)."""
        features = np.zeros((len(images), self.feature_dim), np.float32)
        logits = np.zeros((len(images), 1000), np.float32)
        done = 0
        for (size, crop), indices in self._groups(images).items():
            for part in batched(len(indices), self.batch_size):
                rows = indices[part]
                features[rows], logits[rows] = self.run_model([images[i] for i in rows], size, crop)
                done += len(rows)
                if progress is not None:
                    progress(done, len(images))
        return EncodedBatch(self.vectors_from_logits(logits), features, {"logits": logits})

    def vectors_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """ConSE vectors (n, 384) from stored ImageNet logits (n, 1000): retuning T,
        temperature or class texts needs no image model run."""
        return conse_vectors(logits, self.class_vectors(), self.settings.top,
                             self.settings.temperature)

    def _groups(self, images: Sequence[Image.Image]) -> dict[tuple[int, float], np.ndarray]:
        """Image indices grouped by (input px, crop): one batched forward pass per group."""
        inputs = [self.settings.input_for(im) for im in images]
        groups: dict[tuple[int, float], list[int]] = {}
        for index, key in enumerate(inputs):
            groups.setdefault(key, []).append(index)
        return {key: np.array(rows, dtype=np.int64) for key, rows in groups.items()}

    def run_model(
        self, images: Sequence[Image.Image], resolution: int, crop: float = CROP_PCT
    ) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, 1280), logits (n, 1000)) as float32 for one batch of one input size."""
        model = load_efficientnet_lite0()
        batch = to_tensor(images, resolution, crop, MEAN, STD)
        use_bf16 = self.settings.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=use_bf16):
            features = model.forward_features(batch)  # type: ignore[operator]
            pooled = model.forward_head(features, pre_logits=True)  # type: ignore[operator]
            logits = model.get_classifier()(pooled)  # type: ignore[operator]
        return pooled.float().numpy(), logits.float().numpy()

    def with_settings(self, **changes: object) -> OfflineEncoder:
        """A copy with some settings changed (used by the tuning benchmark)."""
        settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        return OfflineEncoder(settings, self.batch_size, self._cache_dir.parent)
