"""Serving item images: a cached thumbnail of the pool's image (folder or zip).

Thumbnails are JPEGs no larger than ``size`` pixels on their long side, written once
under ``VAR_DIR/thumbs`` and served from there afterwards; small images are never
enlarged (the page scales them).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from PIL import Image

from labeling.models import Item
from modeling.engine.images import UnreadableImageError, open_image_reduced

DEFAULT_SIZE = 384
SIZES = (128, 256, 384, 512)
# A thumbnail decodes at most this many pixels (JPEGs are decoded at a reduced scale
# first, so only large PNG/GIF/... images meet the cap): 25M RGB pixels are 75 MB.
THUMBNAIL_MAX_PIXELS = 25_000_000
# At most this many decodes at once per process, whatever the number of requests: the
# memory a burst of thumbnails takes is bounded (2 x ~150 MB at worst), not 4 x 600 MB.
_DECODES = threading.BoundedSemaphore(2)


def thumbnail_path(item: Item, size: int) -> Path:
    return Path(settings.VAR_DIR) / "thumbs" / str(item.pool_id) / f"{item.pk}-{size}.jpg"


def _write_thumbnail(item: Item, size: int, target: Path) -> None:
    with _DECODES:
        try:
            image = open_image_reduced(Path(item.pool.source), item.key, size * 2, THUMBNAIL_MAX_PIXELS)
        except (UnreadableImageError, FileNotFoundError, KeyError, OSError, ValueError):
            raise Http404 from None
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader never sees half a file.
    handle, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        image.save(out, "JPEG", quality=88)
    os.replace(tmp, target)


def open_item_image(item: Item, size: int = DEFAULT_SIZE) -> FileResponse:
    size = min(SIZES, key=lambda s: abs(s - size))
    target = thumbnail_path(item, size)
    if not target.exists():
        _write_thumbnail(item, size, target)
    response = FileResponse(target.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response
