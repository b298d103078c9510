"""Image sources: folders and zips listed in order, labels from folders, bad input reported."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PIL import Image

from modeling.engine.errors import EmptyPoolError
from modeling.engine.images import (
    ImageRef,
    ImageSourceError,
    UnreadableImageError,
    list_images,
    open_image,
)


def _png(path: Path, color: str = "red", size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pool"
    _png(root / "dog" / "b.png", "blue")
    _png(root / "cat" / "a.png")
    _png(root / "loose.png", "green")
    (root / "notes.txt").write_text("not an image")
    _png(root / ".hidden" / "x.png")
    return root


def test_it_lists_a_folder_sorted_with_folder_labels(folder: Path) -> None:
    assert list_images(folder) == [
        ImageRef("cat/a.png", "cat"), ImageRef("dog/b.png", "dog"), ImageRef("loose.png", None)]


def test_it_lists_a_zip_like_the_same_folder(folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "pool.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file():
                out.write(path, path.relative_to(folder).as_posix())
        out.writestr("__MACOSX/cat/._a.png", b"resource fork")
    assert list_images(archive) == list_images(folder)
    assert open_image(archive, "dog/b.png").getpixel((0, 0)) == (0, 0, 255)


def test_it_opens_images_as_rgb(tmp_path: Path) -> None:
    Image.new("L", (4, 4), 128).save(tmp_path / "gray.png")
    image = open_image(tmp_path, "gray.png")
    assert image.mode == "RGB" and image.size == (4, 4)


def test_it_reports_a_corrupt_image_by_key(folder: Path) -> None:
    (folder / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(UnreadableImageError) as caught:
        open_image(folder, "cat/broken.jpg")
    assert caught.value.key == "cat/broken.jpg"


def test_it_reports_a_truncated_real_jpeg(cifar_images: dict[str, Image.Image], tmp_path: Path) -> None:
    cifar_images["cat/0000.jpg"].save(tmp_path / "full.jpg", format="JPEG")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:200])
    with pytest.raises(UnreadableImageError):
        open_image(tmp_path, "cut.jpg")


def test_it_reports_a_missing_key(folder: Path) -> None:
    with pytest.raises(UnreadableImageError, match="nope.png"):
        open_image(folder, "cat/nope.png")


def test_it_refuses_keys_outside_the_folder(folder: Path, tmp_path: Path) -> None:
    _png(tmp_path / "secret.png")
    with pytest.raises(UnreadableImageError, match="outside"):
        open_image(folder, "../secret.png")


def test_it_rejects_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ImageSourceError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_it_rejects_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "pool.tar").write_bytes(b"not a zip")
    with pytest.raises(ImageSourceError, match="neither a folder nor a .zip"):
        list_images(tmp_path / "pool.tar")


def test_it_rejects_a_source_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(EmptyPoolError, match="holds no images"):
        list_images(tmp_path)
