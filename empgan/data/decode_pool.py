"""Decode many files in order on a small thread pool (Pillow and zlib release the GIL while decoding)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from empgan.data.images import ImageDecodeError
from empgan.data.sources import SourceFile

CHUNK_FILES = 64    # files read (on the calling thread) before their decoding is handed to the pool

Decode = Callable[[bytes], np.ndarray]  # file bytes -> uint8 [3, R, R]; raises ImageDecodeError


@dataclass(frozen=True)
class Decoded:
    name: str                       # relative path in the source
    pixels: np.ndarray | None       # uint8 [3, R, R]; None when the file could not be decoded
    reason: str | None              # why it could not


def decode_files(files: list[SourceFile], decode: Decode, workers: int | None = None) -> Iterator[Decoded]:
    """Every file, in the given order, decoded or carrying the reason it could not be."""
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(files), CHUNK_FILES):
            chunk = files[start:start + CHUNK_FILES]
            payloads = [_read(file) for file in chunk]  # zip members are read on one thread only
            yield from pool.map(_decode, [(file.name, payload, decode) for file, payload in zip(chunk, payloads)])


def _read(file: SourceFile) -> bytes | ImageDecodeError:
    try:
        return file.read()
    except ImageDecodeError as exc:
        return exc


def _decode(job: tuple[str, bytes | ImageDecodeError, Decode]) -> Decoded:
    name, payload, decode = job
    if isinstance(payload, ImageDecodeError):
        return Decoded(name, None, str(payload))
    try:
        return Decoded(name, decode(payload), None)
    except ImageDecodeError as exc:
        return Decoded(name, None, str(exc))
