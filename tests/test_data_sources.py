"""Raw sources: file order, nested folders, zips, unreadable files reported by name, bad paths."""

from __future__ import annotations

import io
import logging
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from empgan.data import load_image_set
from empgan.errors import UserError

R = 8


def png_bytes(colour, size=(R, R)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_jpeg_bytes() -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # [64, 64, 3]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_tree(root, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def write_zip(path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


# Nested tree whose sorted order (a/b/c.png, a/z.png, b.png) differs from the order of creation.
TREE = {"b.png": png_bytes((30, 30, 30)), "a/z.png": png_bytes((20, 20, 20)), "a/b/c.png": png_bytes((10, 10, 10))}
TREE_ORDER_GRAY = [10, 20, 30]


def test_nested_folders_are_read_in_sorted_relative_path_order(tmp_path):
    write_tree(tmp_path, TREE)
    image_set = load_image_set(str(tmp_path), R)
    assert tuple(image_set.images.shape) == (3, 3, R, R)
    assert image_set.images[:, 0, 0, 0].tolist() == TREE_ORDER_GRAY
    assert image_set.source == str(tmp_path) and image_set.resolution == R


def test_symlinked_subfolders_are_read_and_a_symlink_loop_once(tmp_path):
    write_tree(tmp_path / "elsewhere", {"x.png": png_bytes((40, 40, 40))})
    write_tree(tmp_path / "data", {"a.png": png_bytes((10, 10, 10))})
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "data" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    image_set = load_image_set(str(tmp_path / "data"), R)
    assert image_set.images[:, 0, 0, 0].tolist() == [10, 40]     # a.png, linked/x.png; the loop adds nothing


def test_zip_source_equals_the_same_folder(tmp_path):
    write_tree(tmp_path / "folder", TREE)
    write_zip(tmp_path / "set.zip", {**TREE, "__MACOSX/a/._z.png": b"\x00\x05\x16\x07", "notes.txt": b"hi"})
    from_folder = load_image_set(str(tmp_path / "folder"), R)
    from_zip = load_image_set(str(tmp_path / "set.zip"), R)
    assert torch.equal(from_zip.images, from_folder.images)
    assert from_zip.content_hash == from_folder.content_hash
    assert from_zip.skipped == []


def test_same_input_same_hash_and_different_input_different_hash(tmp_path):
    write_tree(tmp_path / "one", TREE)
    write_tree(tmp_path / "two", dict(reversed(list(TREE.items()))))
    first, second = load_image_set(str(tmp_path / "one"), R), load_image_set(str(tmp_path / "two"), R)
    assert first.content_hash == second.content_hash and len(first.content_hash) == 40
    assert load_image_set(str(tmp_path / "one"), 2 * R).content_hash != first.content_hash
    (tmp_path / "one" / "b.png").write_bytes(png_bytes((31, 30, 30)))
    assert load_image_set(str(tmp_path / "one"), R).content_hash != first.content_hash


@pytest.mark.parametrize("name, data, reason_part", [
    ("truncated.jpg", noisy_jpeg_bytes()[:1500], "truncated"),
    ("empty.png", b"", "empty file (0 bytes)"),
    ("text.png", b"this is not a picture\n", "not a recognised image format (22 bytes)"),
])
def test_unreadable_file_is_reported_by_name_and_logged(tmp_path, caplog, name, data, reason_part):
    write_tree(tmp_path, {"good.png": png_bytes((1, 2, 3)), name: data})
    with caplog.at_level(logging.WARNING, logger="empgan.data"):
        image_set = load_image_set(str(tmp_path), R)
    assert len(image_set) == 1 and image_set.images[0, :, 0, 0].tolist() == [1, 2, 3]
    assert [file for file, _ in image_set.skipped] == [name]
    assert reason_part in image_set.skipped[0][1]
    warnings = [record.getMessage() for record in caplog.records if record.name == "empgan.data"]
    assert warnings == [f"skipped unreadable image {name}: {image_set.skipped[0][1]}"]


def test_non_image_and_hidden_files_are_ignored_not_reported(tmp_path):
    write_tree(tmp_path, {"good.png": png_bytes((1, 2, 3)), "notes.txt": b"x", "meta.json": b"{}",
                          ".DS_Store": b"\x00\x00", "._good.png": b"\x00\x05\x16\x07", "UPPER.PNG": png_bytes((4, 5, 6))})
    image_set = load_image_set(str(tmp_path), R)
    assert image_set.skipped == []
    assert image_set.images[:, :, 0, 0].tolist() == [[4, 5, 6], [1, 2, 3]]  # 'UPPER.PNG' < 'good.png'


def test_source_without_readable_images_names_path_and_counts(tmp_path):
    write_tree(tmp_path, {"a.png": b"", "b.jpg": b"garbage", "readme.txt": b"x"})
    with pytest.raises(UserError) as error:
        load_image_set(str(tmp_path), R)
    message = str(error.value)
    assert f"'{tmp_path}' has no readable image" in message
    assert "2 image file(s) skipped as unreadable, 1 non-image file(s) ignored" in message
    assert "first: a.png: empty file (0 bytes)" in message and "\n" not in message


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(UserError, match="has no readable image \\(0 image file\\(s\\) skipped"):
        load_image_set(str(tmp_path), R)


def test_missing_path_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match=f"data source '{missing}' does not exist"):
        load_image_set(str(missing), R)


def test_a_file_that_is_not_a_zip_is_an_error(tmp_path):
    (tmp_path / "one.png").write_bytes(png_bytes((0, 0, 0)))
    with pytest.raises(UserError, match="is a file but not a zip"):
        load_image_set(str(tmp_path / "one.png"), R)


@pytest.mark.parametrize("resolution", [12, 0, 4096, 1])
def test_bad_resolution_is_an_error(tmp_path, resolution):
    with pytest.raises(UserError, match=f"resolution {resolution}: must be a power of two from 4 to 2048"):
        load_image_set(str(tmp_path), resolution)


def test_bad_fit_is_an_error(tmp_path):
    with pytest.raises(UserError, match="fit 'stretch': must be one of crop, pad"):
        load_image_set(str(tmp_path), R, fit="stretch")
