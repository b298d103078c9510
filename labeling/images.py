"""Serving item images from a pool's source (a folder or a zip of images)."""

from __future__ import annotations

import mimetypes
import zipfile
from io import BytesIO
from pathlib import Path

from django.http import FileResponse, Http404

from labeling.models import Item


def open_item_image(item: Item) -> FileResponse:
    source = Path(item.pool.source)
    content_type = mimetypes.guess_type(item.key)[0] or "application/octet-stream"
    if source.is_dir():
        path = (source / item.key).resolve()
        if source.resolve() not in path.parents or not path.is_file():
            raise Http404
        response = FileResponse(path.open("rb"), content_type=content_type)
    elif source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            try:
                data = archive.read(item.key)
            except KeyError:
                raise Http404 from None
        response = FileResponse(BytesIO(data), content_type=content_type)
    else:
        raise Http404
    response["Cache-Control"] = "private, max-age=3600"
    return response
