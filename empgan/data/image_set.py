"""The in-memory training set (`ImageSet`) and its content hash, which keys the FID statistics cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from empgan.errors import UserError

MIN_RESOLUTION, MAX_RESOLUTION = 4, 2048


@dataclass
class ImageSet:
    images: torch.Tensor            # uint8 [N, 3, R, R], RGB
    source: str                     # the folder, zip, prepared set or builtin:NAME it came from
    resolution: int                 # R
    content_hash: str               # ContentHasher over `images`, in order
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason), unreadable files

    def __len__(self) -> int:
        return self.images.shape[0]


class ContentHasher:
    """sha1 of b'resolution=R\\n' followed by every image's pixel bytes in [3, R, R] order, in set order."""

    def __init__(self, resolution: int):
        self._sha1 = hashlib.sha1(f"resolution={resolution}\n".encode())

    def add(self, pixels: np.ndarray) -> None:
        """uint8 images [3, R, R] or [N, 3, R, R], added in order."""
        self._sha1.update(np.ascontiguousarray(pixels).tobytes())

    def hexdigest(self) -> str:
        return self._sha1.hexdigest()


def content_hash(images: torch.Tensor, resolution: int) -> str:
    """The hash of a uint8 [N, 3, R, R] tensor; equal to adding its images one by one to a ContentHasher."""
    hasher = ContentHasher(resolution)
    hasher.add(images.numpy())
    return hasher.hexdigest()


def stack_images(arrays: list[np.ndarray], resolution: int) -> torch.Tensor:
    """uint8 images [3, R, R] each -> uint8 tensor [N, 3, R, R]."""
    if not arrays:
        return torch.empty((0, 3, resolution, resolution), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays))  # [N, 3, R, R]


def check_resolution(resolution) -> int:
    """A power of two in [MIN_RESOLUTION, MAX_RESOLUTION]; raises UserError naming the value."""
    ok = (isinstance(resolution, int) and not isinstance(resolution, bool)
          and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION and resolution & (resolution - 1) == 0)
    if not ok:
        raise UserError(f"resolution {resolution!r}: must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}")
    return resolution
