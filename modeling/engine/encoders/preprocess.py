"""PIL images → normalised float tensors, the way timm evaluates ImageNet models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


def resize_center_crop(image: Image.Image, size: int, crop_pct: float) -> Image.Image:
    """Shorter side to ``size / crop_pct`` (bicubic), then the central ``size`` x ``size``."""
    width, height = image.size
    scale = (size / crop_pct) / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = image.convert("RGB").resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return resized.crop((left, top, left + size, top + size))


def to_tensor(
    images: Sequence[Image.Image],
    size: int,
    crop_pct: float,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> torch.Tensor:
    """float32 ``(n, 3, size, size)`` in channels_last memory order, normalised per channel."""
    pixels = np.stack([np.asarray(resize_center_crop(im, size, crop_pct)) for im in images])
    # (n, H, W, 3) uint8 permuted to NCHW is already channels_last in memory: no copy.
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    shift = torch.tensor(mean).view(1, 3, 1, 1)
    scale = torch.tensor(std).view(1, 3, 1, 1)
    return batch.sub_(shift).div_(scale).contiguous(memory_format=torch.channels_last)
