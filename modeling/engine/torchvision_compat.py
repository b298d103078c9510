"""Make ``import torchvision`` work on this CPU-only torch before timm or open_clip need it.

Why this module exists: the torchvision wheel installed here is a CUDA build. Its compiled
extension ``torchvision/_C.so`` cannot be loaded next to the CPU build of torch, and
torchvision swallows that failure silently. It then reaches
``torchvision/_meta_registrations.py``, which registers *fake* (meta) kernels for the
operators ``torchvision::nms`` and ``torchvision::qnms`` with ``torch.library.register_fake``.
That call requires the operator schema to exist, and the schemas were supposed to come from
the extension that failed to load, so the import dies with
``RuntimeError: operator torchvision::nms does not exist``. timm and open_clip both import
torchvision at module level, so neither can be imported either.

The fix: define the two missing schemas ourselves (a schema only, no kernel) before
torchvision is imported. Nothing in this project calls ``nms``; were it called, torch would
raise a clear "no kernel registered" error instead of the import failing. If the extension
*can* be loaded (a matching torchvision), we load it first and define nothing.

Import this module before any import of timm, open_clip or torchvision.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.library

# The only operators that torchvision registers fake kernels for unconditionally; the other
# meta registrations in torchvision are guarded by ``_has_ops()`` and need no schema.
_MISSING_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

# Kept at module level: a ``torch.library.Library`` removes its definitions when collected.
_LIBRARY: torch.library.Library | None = None


def _extension_loads() -> bool:
    """True when torchvision's compiled ops load (a torchvision built for this torch)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("_C*.so")) + sorted(Path(folder).glob("_C*.pyd")):
            try:
                torch.ops.load_library(str(candidate))  # type: ignore[no-untyped-call]
                return True
            except (OSError, RuntimeError):
                return False
    return False


def _schema_exists(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def ensure_torchvision_importable() -> None:
    """Register the operator schemas torchvision needs at import time when its ops cannot load.

    Idempotent; safe to call from every module that imports timm or open_clip.
    """
    global _LIBRARY
    if _LIBRARY is not None or _schema_exists("nms") or _extension_loads():
        return
    library = torch.library.Library("torchvision", "DEF")  # type: ignore[no-untyped-call]
    for schema in _MISSING_SCHEMAS:
        library.define(schema)  # type: ignore[no-untyped-call]
    _LIBRARY = library


ensure_torchvision_importable()
