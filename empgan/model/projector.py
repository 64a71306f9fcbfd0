"""EMP-SSL's projector on the deepest feature map of the feature network.

Flattened map -> Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear(len) -> L2 normalisation.
Variant C (`proj_reduce`) first cuts the channels of the map with a 1x1 conv, so that the first
Linear (the bulk of the parameters: C x H x W x hidden) shrinks by C / reduce_channels.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class EmpProjector(nn.Module):
    def __init__(self, in_channels: int, map_size: int, hidden: int, out_len: int,
                 reduce_channels: Optional[int] = None):
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, reduce_channels, kernel_size=1) if reduce_channels else nn.Identity()
        flat = (reduce_channels or in_channels) * map_size * map_size
        self.mlp = nn.Sequential(
            nn.Linear(flat, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, out_len),
        )

    def forward(self, deepest: torch.Tensor) -> torch.Tensor:
        """Deepest map [N, C, H, W] -> unit-length embeddings [N, len]."""
        x = self.reduce(deepest).flatten(1)                                    # [N, C' * H * W]
        return F.normalize(self.mlp(x), dim=1)                                 # [N, len]
