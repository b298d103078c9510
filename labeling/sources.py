"""Checks on where a pool's images come from and which encoder embeds them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from django.conf import settings
from rest_framework import serializers

ENCODERS_FOR_IMAGES = ("offline", "open_clip")


def pool_roots() -> list[Path]:
    roots = list(settings.POOL_ROOTS)
    try:  # the demo's textile images ship inside an installed package
        import conformal_clip_data

        roots.append(conformal_clip_data.data_root())
    except ImportError:
        pass
    return [root.resolve() for root in roots]


def allowed_source(value: str) -> str:
    """The source resolved, if it is an existing folder or zip inside an allowed root."""
    if not value:
        raise serializers.ValidationError("Name the folder or .zip of images.")
    try:
        path = Path(value).expanduser().resolve()
        roots = pool_roots()
        if not any(path == root or root in path.parents for root in roots):
            shown = ", ".join(str(r) for r in roots)
            raise serializers.ValidationError(f"Pool sources must lie inside one of: {shown} (AGILE_POOL_ROOTS).")
        if not (path.is_dir() or (path.is_file() and zipfile.is_zipfile(path))):
            raise serializers.ValidationError("Not an existing folder or .zip file.")
    except (OSError, ValueError, RuntimeError) as exc:
        # A name the file system refuses: a part over 255 bytes, a NUL, a symlink loop.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise serializers.ValidationError(f"Not a usable path ({reason}).") from None
    return str(path)


def known_encoder(value: str) -> str:
    if value not in ENCODERS_FOR_IMAGES:
        raise serializers.ValidationError(f"Unknown image encoder {value!r}; use one of: {', '.join(ENCODERS_FOR_IMAGES)}.")
    return value
