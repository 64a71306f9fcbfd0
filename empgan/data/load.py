"""`load_image_set`: one entry point for every kind of data spec the trainer and the FID code accept."""

from __future__ import annotations

import os
from pathlib import Path

from empgan.data.builtin import PREFIX as BUILTIN_PREFIX
from empgan.data.builtin import load_builtin
from empgan.data.image_set import ImageSet, check_resolution
from empgan.data.images import FITS
from empgan.data.prepared import load_prepared, read_manifest
from empgan.data.raw_source import load_raw_source
from empgan.errors import UserError


def load_image_set(spec: str | os.PathLike, resolution: int, fit: str | None = None) -> ImageSet:
    """`builtin:NAME`, a prepared set (folder/zip with our dataset.json), or a raw folder/zip of images.

    fit: 'crop' or 'pad' for raw sources (None = 'crop'); for a prepared set None accepts the fit it
    was made with, and anything else must equal it.
    """
    spec = os.fspath(spec)
    check_resolution(resolution)
    if fit is not None and fit not in FITS:
        raise UserError(f"fit {fit!r}: must be one of {', '.join(FITS)}")
    if spec.startswith(BUILTIN_PREFIX):
        return load_builtin(spec, resolution)
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"data source '{spec}' does not exist (expected a folder or .zip of images, "
                        f"a prepared set, or {BUILTIN_PREFIX}NAME)")
    manifest = read_manifest(path)
    if manifest is not None:
        return load_prepared(path, manifest, resolution, fit)
    return load_raw_source(path, resolution, fit or "crop")
