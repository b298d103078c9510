"""open_clip: the real image-text encoder for users who have CLIP weights.

Weights come from a model name + pretrained tag (open_clip downloads them the first time),
a local checkpoint file (``checkpoint="/path/ViT-B-32.pt"`` with ``model="ViT-B-32"``), or
a local folder holding ``open_clip_config.json`` and the weights (``checkpoint="/path/dir"``,
the Hugging Face layout, any architecture). ``model`` may also be the path of a model-config
``.json`` (open_clip's format), registered under its file stem. Loading requires real weights: a model with
random weights is refused rather than silently used.
"""

from __future__ import annotations

# torchvision_compat must run before timm/open_clip import torchvision (see its docstring).
import modeling.engine.torchvision_compat  # noqa: F401  # isort: skip

# isort: split
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from modeling.engine.encoders.base import (
    EncodedBatch,
    EncoderLoadError,
    Progress,
    batched,
    l2_normalize,
)

_FILE_HASH_CHUNK = 1 << 22


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_FILE_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _weights_id(folder_or_file: Path) -> str:
    """Content hash of a checkpoint file, or of every file in a checkpoint folder."""
    if folder_or_file.is_file():
        return _file_digest(folder_or_file)
    parts = [f"{p.name}:{_file_digest(p)}" for p in sorted(folder_or_file.iterdir()) if p.is_file()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _model_name(model: str) -> str:
    """A model name; a path to a ``.json`` model config is registered under its file stem."""
    if model.endswith(".json"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise EncoderLoadError(f"open_clip model config {model!r} does not exist")
        open_clip.add_model_config(path)
        return path.stem
    return model


def _resolve(
    model: str, pretrained: str | None, checkpoint: str | Path | None
) -> tuple[str, str | None, str]:
    """(open_clip model name, pretrained argument, weights id for the cache key)."""
    model = _model_name(model)
    if checkpoint is None:
        if pretrained and Path(pretrained).is_file():
            return model, pretrained, _weights_id(Path(pretrained))
        if not pretrained and not model.startswith(("local-dir:", "hf-hub:")):
            raise EncoderLoadError(
                "open_clip needs weights: give pretrained=TAG (see open_clip.list_pretrained()) "
                "or checkpoint=PATH (a file, or a folder with open_clip_config.json)")
        return model, pretrained, pretrained or model
    path = Path(checkpoint).expanduser()
    if not path.exists():
        raise EncoderLoadError(f"open_clip checkpoint {str(path)!r} does not exist")
    if path.is_dir():
        return f"local-dir:{path}", None, _weights_id(path)
    return model, str(path), _weights_id(path)


class OpenClipEncoder:
    """A CLIP model from open_clip: images and texts in its own ``dim``-wide space.

    features == vectors (CLIP has no separate classifier features).
    """

    features_are_vectors = True

    def __init__(
        self, model: str = "ViT-B-32", pretrained: str | None = None,
        checkpoint: str | Path | None = None, precision: str = "fp32", batch_size: int = 32,
    ) -> None:
        if precision not in ("fp32", "bf16"):
            raise EncoderLoadError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        name, weights, weights_id = _resolve(model, pretrained, checkpoint)
        self._model, self._preprocess, self._tokenizer = _load(name, weights)
        self.precision = precision
        self.batch_size = batch_size
        self.dim = int(self.encode_texts(["a"]).shape[1])
        self.feature_dim = self.dim
        size = getattr(self._model.visual, "image_size", "?")
        size = size[0] if isinstance(size, (tuple, list)) else size
        label = name.split("/")[-1] if name.startswith("local-dir:") else name
        self.key = f"open_clip/{label}/{weights_id}/res{size}/{precision}"

    def __repr__(self) -> str:
        return f"OpenClipEncoder(key={self.key!r}, dim={self.dim})"

    def _autocast(self) -> Any:
        return torch.autocast("cpu", torch.bfloat16, enabled=self.precision == "bf16")

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(n, dim)``, L2-normalised."""
        if len(texts) == 0:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        out = []
        for part in batched(len(texts), 256):
            tokens = self._tokenizer(list(texts[part]))
            with torch.inference_mode(), self._autocast():
                out.append(self._model.encode_text(tokens).float().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_images(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> EncodedBatch:
        """vectors == features: float32 ``(n, dim)``, L2-normalised."""
        out = [np.zeros((0, self.dim), np.float32)]
        for part in batched(len(images), self.batch_size):
            batch = torch.stack([self._preprocess(im.convert("RGB")) for im in images[part]])
            with torch.inference_mode(), self._autocast():
                out.append(self._model.encode_image(batch).float().numpy())
            if progress is not None:
                progress(part.stop, len(images))
        vectors = l2_normalize(np.concatenate(out))
        return EncodedBatch(vectors, vectors)


def _load(name: str, pretrained: str | None) -> tuple[Any, Any, Any]:
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device="cpu", require_pretrained=True,
            pretrained_text=False)
        tokenizer = open_clip.get_tokenizer(name)
    except (RuntimeError, ValueError, FileNotFoundError, OSError, KeyError) as exc:
        raise EncoderLoadError(f"cannot load open_clip model {name!r} ({pretrained}): {exc}") from exc
    model.eval()
    return model, preprocess, tokenizer
