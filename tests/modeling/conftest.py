"""Small shared fixtures of the modeling tests: real CIFAR-10 images, models loaded once."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modeling.engine.encoders.paths import shared_data_dir

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")


def cifar_test_zip() -> Path:
    return shared_data_dir() / "cifar10" / "test.zip"


@pytest.fixture(scope="session")
def cifar_images() -> dict[str, Image.Image]:
    """Six real CIFAR-10 test images per class (60), key → RGB image."""
    images: dict[str, Image.Image] = {}
    with zipfile.ZipFile(cifar_test_zip()) as archive:
        for label in CIFAR_CLASSES:
            for index in range(6):
                key = f"{label}/{index * 97:04d}.jpg"
                images[key] = Image.open(io.BytesIO(archive.read(key))).convert("RGB")
    return images


def write_images(folder: Path, images: dict[str, Image.Image]) -> Path:
    """Save ``images`` (key → image) as JPEG files under ``folder``; returns the folder."""
    for key, image in images.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / key, format="JPEG", quality=95)
    return folder


@pytest.fixture(scope="session")
def offline_encoder():  # type: ignore[no-untyped-def]
    """The real offline encoder (EfficientNet-Lite0 + MiniLM), loaded once per session."""
    from modeling.engine.encoders import create_encoder

    return create_encoder("offline")


TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small open_clip model with random weights, saved the way users ship one:
    ``open_clip_config.json`` + ``open_clip_pytorch_model.bin`` in a folder."""
    import modeling.engine.torchvision_compat  # noqa: F401  # isort: skip
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP)  # type: ignore[arg-type]
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    config = {"model_cfg": TINY_CLIP, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    return folder


def unit_rows(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """float32 ``(rows, width)`` random L2-normalised vectors."""
    matrix = rng.normal(size=(rows, width)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
