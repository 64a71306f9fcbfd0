"""The prepared-set format: a folder or zip of RGB PNGs `00000000.png`, ... (all R x R) and a
`dataset.json` manifest. Reading one checks its resolution, its file list and its content hash.

A `dataset.json` whose "format" is not FORMAT (e.g. another tool's) does not make a prepared set:
that folder or zip is read as raw images.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from empgan.data.decode_pool import decode_files
from empgan.data.image_set import ContentHasher, ImageSet, stack_images
from empgan.data.images import FITS, ImageDecodeError
from empgan.data.sources import open_source
from empgan.errors import UserError

MANIFEST_NAME = "dataset.json"
FORMAT = "empgan-image-set"
FORMAT_VERSION = 1


def png_name(index: int) -> str:
    return f"{index:08d}.png"


def build_manifest(*, resolution: int, fit: str, source: str, content_hash: str, source_files: list[str],
                   skipped: list[tuple[str, str]], ignored: int) -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "resolution": resolution,
        "count": len(source_files),
        "fit": fit,
        "source": source,
        "content_hash": content_hash,
        "skipped": [{"file": name, "reason": reason} for name, reason in skipped],
        "ignored_files": ignored,
        "source_files": source_files,       # source_files[i] became png_name(i)
    }


def read_manifest(path: Path) -> dict | None:
    """The manifest of the prepared set at `path` (folder or zip); None when `path` is not a prepared set."""
    where = f"{path}/{MANIFEST_NAME}"
    if path.is_dir():
        manifest_path = path / MANIFEST_NAME
        if not manifest_path.is_file():
            return None
        text = manifest_path.read_bytes()
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                if MANIFEST_NAME not in archive.namelist():
                    return None
                text = archive.read(MANIFEST_NAME)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UserError(f"data source '{path}' is not a readable zip: {exc}") from None
    else:
        return None
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"'{where}' is not valid JSON ({exc}); remove it or prepare the set again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    _check_manifest(manifest, where)
    return manifest


def _check_manifest(manifest: dict, where: str) -> None:
    if manifest.get("version") != FORMAT_VERSION:
        raise UserError(f"'{where}': version {manifest.get('version')!r} is not supported "
                        f"(this empgan reads version {FORMAT_VERSION}); prepare the set again")
    expected = {"resolution": int, "count": int, "fit": str, "content_hash": str, "skipped": list}
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind):
            raise UserError(f"'{where}': key '{key}' = {manifest.get(key)!r} must be {kind.__name__}; "
                            "prepare the set again")
    if manifest["fit"] not in FITS:
        raise UserError(f"'{where}': key 'fit' = {manifest['fit']!r} must be one of {', '.join(FITS)}")


def load_prepared(path: Path, manifest: dict, resolution: int, fit: str | None) -> ImageSet:
    """Read a prepared set (manifest from read_manifest); its resolution (and fit, if asked) must match."""
    if manifest["resolution"] != resolution:
        raise UserError(f"prepared set '{path}' has resolution {manifest['resolution']}, but resolution "
                        f"{resolution} was asked; prepare it again: empgan data prepare SOURCE DEST --resolution {resolution}")
    if fit is not None and manifest["fit"] != fit:
        raise UserError(f"prepared set '{path}' was made with fit '{manifest['fit']}', but fit '{fit}' was asked")
    count = manifest["count"]
    arrays = []
    hasher = ContentHasher(resolution)
    with open_source(path) as listing:
        names = [file.name for file in listing.files]
        if names != [png_name(i) for i in range(count)]:
            raise UserError(f"prepared set '{path}' should hold exactly {png_name(0)} .. {png_name(count - 1)} "
                            f"({count} images, from {MANIFEST_NAME}) but holds {len(names)} image files; "
                            "prepare it again")
        for item in decode_files(listing.files, functools.partial(_decode_png, resolution=resolution)):
            if item.pixels is None:
                raise UserError(f"prepared set '{path}': {item.name} {item.reason}; prepare it again")
            arrays.append(item.pixels)
            hasher.add(item.pixels)
    if hasher.hexdigest() != manifest["content_hash"]:
        raise UserError(f"prepared set '{path}': the images do not match the content_hash in {MANIFEST_NAME} "
                        "(modified after preparing?); prepare it again")
    skipped = [(entry["file"], entry["reason"]) for entry in manifest["skipped"]]
    return ImageSet(stack_images(arrays, resolution), str(path), resolution, hasher.hexdigest(), skipped)


def _decode_png(data: bytes, resolution: int) -> np.ndarray:
    """A prepared PNG -> uint8 [3, R, R]; anything but an RGB R x R image raises ImageDecodeError."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode, size = image.mode, image.size
            pixels = np.asarray(image, dtype=np.uint8)  # [R, R, 3]
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on corrupt bytes
        raise ImageDecodeError(f"cannot be read ({type(exc).__name__}: {exc})") from None
    if mode != "RGB" or size != (resolution, resolution):
        raise ImageDecodeError(f"is {mode} {size[0]}x{size[1]}, expected RGB {resolution}x{resolution}")
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # [3, R, R]
