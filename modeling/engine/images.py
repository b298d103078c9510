"""Image pools read in place: a folder of image files or a ``.zip`` of them.

An image is named by its ``key``, the stable ``/``-separated path inside the source
(``"cat/0001.jpg"``). When the key has a folder, its first folder names the label a
simulated rater answers with (CIFAR-10's ``<class>/<nnnn>.jpg`` layout); loose files at the
top level have no label. Listing is sorted so that row order is deterministic.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from modeling.engine.errors import EmptyPoolError, ModelingError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# Decoding refuses images above this many pixels (PIL's own bomb guard is a warning at
# 89M); a pool item that large is a mistake or an attack, not a photo worth embedding.
MAX_PIXELS = 100_000_000


class ImageSourceError(ModelingError):
    """The pool source is missing, not a folder or zip, or holds no images."""


class UnreadableImageError(ModelingError):
    """One image cannot be read or decoded; ``key`` names it, ``reason`` says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"cannot read image {key!r}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class ImageRef:
    """One image of a source: its key and, when the layout gives one, its label."""

    key: str
    label: str | None


def label_for_key(key: str) -> str | None:
    """The first folder of ``key`` (``"cat/0001.jpg"`` → ``"cat"``), or None for a loose file."""
    parts = PurePosixPath(key).parts
    return parts[0] if len(parts) > 1 else None


def _is_image_name(name: str) -> bool:
    path = PurePosixPath(name)
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in path.parts)
    return not hidden and path.suffix.lower() in IMAGE_SUFFIXES


def _check_source(source: Path) -> None:
    if not source.exists():
        raise ImageSourceError(f"pool source {str(source)!r} does not exist")
    if source.is_file() and not zipfile.is_zipfile(source):
        raise ImageSourceError(f"pool source {str(source)!r} is neither a folder nor a .zip file")


class ImageSource:
    """An open folder or zip of images; reads the bytes of one key at a time.

    A zip is opened once and shared (``zipfile`` serialises reads of one handle), so reading
    50,000 members does not re-parse the central directory 50,000 times.
    """

    def __init__(self, source: Path) -> None:
        _check_source(source)
        self.path = source
        self._zip = zipfile.ZipFile(source) if source.is_file() else None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        kind = "zip" if self._zip is not None else "folder"
        return f"ImageSource({str(self.path)!r}, {kind})"

    def list_keys(self) -> list[str]:
        """Every image key of the source, sorted."""
        if self._zip is not None:
            names = [info.filename for info in self._zip.infolist() if not info.is_dir()]
        else:
            names = [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]
        return sorted(name for name in names if _is_image_name(name))

    def read_bytes(self, key: str) -> bytes:
        """The raw bytes of ``key``; raises UnreadableImageError when it cannot be read."""
        try:
            if self._zip is not None:
                with self._lock:
                    return self._zip.read(key)
            target = (self.path / key).resolve()
            if self.path.resolve() not in target.parents:
                raise UnreadableImageError(key, "key points outside the source folder")
            return target.read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
            raise UnreadableImageError(key, f"{type(exc).__name__}: {exc}") from exc

    def open(self, key: str) -> Image.Image:
        """Decode ``key`` into a fully loaded RGB image (corrupt data raises here, not later)."""
        return decode_image(key, self.read_bytes(key))

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def decode_image(key: str, data: bytes, *, reduce_to: int | None = None,
                 max_decoded_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode image bytes to RGB; any decoder failure becomes UnreadableImageError(key).

    ``reduce_to`` (pixels): the caller needs no more than this on the long side, so a JPEG
    is decoded at 1/2, 1/4 or 1/8 scale (DCT scaling, ``Image.draft``): a 10,000 x 10,000
    JPEG then takes 4.7 MB instead of 300 MB. ``max_decoded_pixels`` caps what is decoded
    after that, for formats that cannot decode smaller (PNG, GIF, ...).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableImageError(key, f"{width}x{height} pixels exceeds {MAX_PIXELS}")
            if reduce_to is not None:
                image.draft("RGB", (reduce_to, reduce_to))
            width, height = image.size
            if width * height > max_decoded_pixels:
                raise UnreadableImageError(key, f"{width}x{height} pixels exceeds {max_decoded_pixels} for decoding")
            image.load()
            return image.convert("RGB")
    except UnreadableImageError:
        raise
    except UnidentifiedImageError as exc:
        raise UnreadableImageError(key, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError) as exc:
        raise UnreadableImageError(key, f"{type(exc).__name__}: {exc}") from exc


# A few sources stay open between ``open_image`` calls; the key includes mtime and size
# so a zip replaced on disk is reopened rather than read through a stale directory.
_OPEN_SOURCES: OrderedDict[tuple[str, int, int], ImageSource] = OrderedDict()
_OPEN_SOURCES_LOCK = threading.Lock()
_MAX_OPEN_SOURCES = 8


def get_source(source: Path) -> ImageSource:
    """A shared, cached ImageSource for ``source``."""
    _check_source(source)
    stat = source.stat()
    cache_key = (str(source.resolve()), stat.st_mtime_ns, stat.st_size)
    with _OPEN_SOURCES_LOCK:
        cached = _OPEN_SOURCES.pop(cache_key, None) or ImageSource(source)
        _OPEN_SOURCES[cache_key] = cached
        while len(_OPEN_SOURCES) > _MAX_OPEN_SOURCES:
            _OPEN_SOURCES.popitem(last=False)[1].close()
        return cached


def list_images(source: Path) -> list[ImageRef]:
    """Every image in a folder or zip, sorted by key; raises ImageSourceError if there are none."""
    refs = [ImageRef(key, label_for_key(key)) for key in get_source(source).list_keys()]
    if not refs:
        raise EmptyPoolError(f"pool source {str(source)!r} holds no images ({_suffix_list()})")
    return refs


def open_image(source: Path, key: str) -> Image.Image:
    """Decode one image of ``source`` as RGB; raises UnreadableImageError when it cannot."""
    return get_source(source).open(key)


def open_image_reduced(source: Path, key: str, reduce_to: int, max_decoded_pixels: int) -> Image.Image:
    """Decode one image for a preview of at most ``reduce_to`` pixels a side (see ``decode_image``)."""
    return decode_image(key, get_source(source).read_bytes(key), reduce_to=reduce_to,
                        max_decoded_pixels=max_decoded_pixels)


def _suffix_list() -> str:
    return ", ".join(sorted(IMAGE_SUFFIXES))
