"""Decode every image file of a raw source (folder or zip), in order.

A file with an image extension that cannot be decoded is never dropped silently: it is logged as
one warning line (logger `empgan.data`) and listed with its reason.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from empgan.data.decode_pool import Decoded, decode_files
from empgan.data.image_set import ContentHasher, ImageSet, stack_images
from empgan.data.images import IMAGE_EXTENSIONS, decode_image
from empgan.data.sources import SourceFile, open_source
from empgan.errors import UserError

log = logging.getLogger("empgan.data")


def iter_decoded(files: list[SourceFile], resolution: int, fit: str) -> Iterator[Decoded]:
    """Every file, in order, as uint8 [3, R, R] or with the reason it is unreadable (also logged)."""
    for item in decode_files(files, functools.partial(_decode_chw, resolution=resolution, fit=fit)):
        if item.pixels is None:
            log.warning("skipped unreadable image %s: %s", item.name, item.reason)
        yield item


def _decode_chw(data: bytes, resolution: int, fit: str) -> np.ndarray:
    pixels = decode_image(data, resolution, fit)  # [R, R, 3]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # [3, R, R]


def load_raw_source(path: Path, resolution: int, fit: str) -> ImageSet:
    """A folder or zip of images -> ImageSet (raises UserError when no file could be read)."""
    arrays, skipped = [], []
    hasher = ContentHasher(resolution)
    with open_source(path) as listing:
        for item in iter_decoded(listing.files, resolution, fit):
            if item.pixels is None:
                skipped.append((item.name, item.reason))
            else:
                arrays.append(item.pixels)
                hasher.add(item.pixels)
        if not arrays:
            raise no_images_error(path, skipped, listing.ignored)
    return ImageSet(stack_images(arrays, resolution), str(path), resolution, hasher.hexdigest(), skipped)


def no_images_error(path: Path, skipped: list[tuple[str, str]], ignored: int) -> UserError:
    detail = f"{len(skipped)} image file(s) skipped as unreadable, {ignored} non-image file(s) ignored"
    if skipped:
        name, reason = skipped[0]
        detail += f"; first: {name}: {reason}"
    return UserError(f"data source '{path}' has no readable image ({detail}); "
                     f"expected {', '.join(sorted(ext.lstrip('.') for ext in IMAGE_EXTENSIONS))} files")
