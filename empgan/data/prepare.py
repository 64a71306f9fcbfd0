"""`prepare_dataset`: a raw folder or zip of images -> a prepared set (folder, or zip when DEST ends in .zip).

The set is written to a hidden sibling of DEST and renamed into place at the end, so an interrupted
run never leaves a half-written set behind. A zip is byte-for-byte reproducible (fixed timestamps,
PNGs stored, the manifest deflated).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from empgan.data.image_set import ContentHasher, check_resolution
from empgan.data.images import FITS
from empgan.data.prepared import MANIFEST_NAME, build_manifest, png_name
from empgan.data.raw_source import iter_decoded, no_images_error
from empgan.data.sources import open_source
from empgan.errors import UserError

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
PNG_COMPRESS_LEVEL = 1  # 3x faster to write than Pillow's default 6, files about 7% larger (256 px artwork)


@dataclass(frozen=True)
class PrepareSummary:
    dest: Path
    count: int                          # images written
    resolution: int
    fit: str
    content_hash: str
    skipped: list[tuple[str, str]]      # (file, reason) of unreadable image files
    ignored: int                        # non-image files
    seconds: float


def prepare_dataset(source: str | os.PathLike, dest: str | os.PathLike, resolution: int,
                    fit: str = "crop") -> PrepareSummary:
    check_resolution(resolution)
    if fit not in FITS:
        raise UserError(f"fit {fit!r}: must be one of {', '.join(FITS)}")
    source, dest = Path(source).expanduser(), Path(dest).expanduser()
    if not source.exists():
        raise UserError(f"data source '{source}' does not exist")
    _check_dest(source, dest)
    started = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    writer = _ZipWriter(partial) if dest.suffix.lower() == ".zip" else _FolderWriter(partial)
    try:
        with open_source(source) as listing, writer:
            hasher, names, skipped = ContentHasher(resolution), [], []
            for item in iter_decoded(listing.files, resolution, fit):
                if item.pixels is None:
                    skipped.append((item.name, item.reason))
                    continue
                writer.add(png_name(len(names)), _png_bytes(item.pixels))
                hasher.add(item.pixels)
                names.append(item.name)
            if not names:
                raise no_images_error(source, skipped, listing.ignored)
            manifest = build_manifest(resolution=resolution, fit=fit, source=str(source.resolve()),
                                      content_hash=hasher.hexdigest(), source_files=names,
                                      skipped=skipped, ignored=listing.ignored)
            writer.add(MANIFEST_NAME, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
        if dest.is_dir():
            dest.rmdir()  # _check_dest allowed only an empty folder
        partial.rename(dest)
    except BaseException:
        _remove(partial)
        raise
    return PrepareSummary(dest, len(names), resolution, fit, manifest["content_hash"], skipped,
                          listing.ignored, time.perf_counter() - started)


def _check_dest(source: Path, dest: Path) -> None:
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise UserError(f"destination '{dest}' already exists; remove it or choose another path")
    if source.is_dir() and dest.resolve().is_relative_to(source.resolve()):
        raise UserError(f"destination '{dest}' is inside the source folder '{source}'; choose a path outside it")


def _png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 [3, R, R] -> PNG file bytes."""
    buffer = io.BytesIO()
    hwc = np.ascontiguousarray(pixels.transpose(1, 2, 0))  # [R, R, 3]
    Image.fromarray(hwc).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


class _FolderWriter:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> _FolderWriter:
        self.path.mkdir()
        return self

    def add(self, name: str, data: bytes) -> None:
        (self.path / name).write_bytes(data)

    def __exit__(self, *exc_info) -> None:
        return None


class _ZipWriter:
    def __init__(self, path: Path):
        self.path = path
        self.archive: zipfile.ZipFile | None = None

    def __enter__(self) -> _ZipWriter:
        self.archive = zipfile.ZipFile(self.path, "w")
        return self

    def add(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
        info.compress_type = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.archive.writestr(info, data)

    def __exit__(self, *exc_info) -> None:
        self.archive.close()
