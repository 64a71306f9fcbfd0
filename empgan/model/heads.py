"""The discriminator heads: the only part of D that the hinge loss trains.

One head per scale of the projected features: down blocks (SN conv 4x4 stride 2 -> BN ->
LeakyReLU 0.2) until the map is 8x8 (or 7x7 for 224 px inputs), then an SN conv 4x4 (valid) to
one logit channel. Channels follow Projected GAN's table keyed by the nearest power-of-two map
size, so at 224 and 256 px inputs the heads are those of Projected GAN. At native small inputs
(32 px: projected maps 16/8/4/2) a map smaller than 4x4 gets a final conv with a kernel of the
map's own size (one logit); Projected GAN never meets that case because it resizes to 224.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from empgan.model.layers import sn_conv2d

# Nominal map size -> channels after a down block to that size (Projected GAN's table).
HEAD_CHANNELS = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
END_SIZE = 8
LOGIT_KERNEL = 4


def nominal_size(size: int) -> int:
    """The power of two nearest to `size` (7 -> 8, 14 -> 16, 112 -> 128), clipped to the table."""
    power = 2 ** round(math.log2(size))
    return min(max(power, min(HEAD_CHANNELS)), max(HEAD_CHANNELS))


class DownBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            sn_conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )


class DiscriminatorHead(nn.Sequential):
    """Map [N, C, S, S] -> logits [N, 1, L, L]."""

    def __init__(self, in_channels: int, map_size: int):
        layers: list[nn.Module] = []
        channels, size, nominal = in_channels, map_size, nominal_size(map_size)
        while nominal > END_SIZE:
            nominal //= 2
            layers.append(DownBlock(channels, HEAD_CHANNELS[nominal]))
            channels, size = HEAD_CHANNELS[nominal], size // 2
        layers.append(sn_conv2d(channels, 1, kernel_size=min(LOGIT_KERNEL, size), bias=False))
        super().__init__(*layers)
        self.logit_size = size - min(LOGIT_KERNEL, size) + 1


class MultiScaleHeads(nn.Module):
    def __init__(self, channels: list[int], map_sizes: list[int]):
        super().__init__()
        self.heads = nn.ModuleList(DiscriminatorHead(c, s) for c, s in zip(channels, map_sizes))
        self.num_logits = sum(head.logit_size ** 2 for head in self.heads)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Projected maps [N, C_k, S_k, S_k] -> all logits of all scales and positions [N, num_logits]."""
        logits = [head(x).flatten(1) for head, x in zip(self.heads, maps)]    # [N, L_k * L_k] each
        return torch.cat(logits, dim=1)                                         # [N, num_logits]
