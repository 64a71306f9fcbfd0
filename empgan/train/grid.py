"""Sample grid PNG of G_ema at a fixed z."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from empgan.metrics.fid import to_uint8_pixels


@torch.no_grad()
def save_grid(G_ema: torch.nn.Module, z: torch.Tensor, rows: int, cols: int, path: Path) -> Path:
    images = to_uint8_pixels(G_ema(z)).cpu()                                   # [rows*cols, 3, R, R]
    _, C, H, W = images.shape
    grid = images.reshape(rows, cols, C, H, W).permute(0, 3, 1, 4, 2)   # [rows, H, cols, W, C]
    grid = grid.reshape(rows * H, cols * W, C).numpy()                  # [rows*H, cols*W, C]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(grid), "RGB").save(path)
    return path
