"""FastGAN "lite" generator, as used by Projected GAN, for 32 .. 1024 px.

z is normalised to unit second moment, a spectral-norm transposed conv makes a 4x4 map, and one
upsampling block per resolution doubles it up to the output size. Skip-layer excitation (SE)
blocks gate a large map by a small one: 4->64, 8->128, 16->256, 32->512. An SE block whose target
resolution is above the output size does not exist (so a 32 px generator has none, a 64 px one
only 4->64); 1024 px has no SE block of its own, as in Projected GAN's lite generator.
The output is an RGB image around [-1, 1] without tanh.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from empgan.errors import ConfigError
from empgan.model.layers import sn_conv2d, sn_conv_transpose2d

# Channels at each resolution are multiplier x ngf.
CHANNEL_MULTIPLIERS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
# Skip-layer excitation: target resolution -> source resolution.
SE_SOURCES = {64: 4, 128: 8, 256: 16, 512: 32}


def normalize_second_moment(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return z * (z.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class UpBlock(nn.Sequential):
    """Nearest x2 -> SN conv 3x3 to twice the channels -> BN -> GLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            sn_conv2d(in_channels, out_channels * 2, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels * 2),
            nn.GLU(dim=1),
        )


class SkipExcitation(nn.Module):
    """Channel gate for a large map computed from a small one (FastGAN's SLE block)."""

    def __init__(self, small_channels: int, big_channels: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            sn_conv2d(small_channels, big_channels, kernel_size=4, bias=False),
            nn.SiLU(),
            sn_conv2d(big_channels, big_channels, kernel_size=1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.gate(small)                                          # [B, C, H, W] * [B, C, 1, 1]


class Generator(nn.Module):
    def __init__(self, resolution: int, z_dim: int = 256, ngf: int = 128):
        super().__init__()
        if resolution not in CHANNEL_MULTIPLIERS or resolution < 32:
            raise ConfigError("resolution", resolution, "must be a power of two from 32 to 1024")
        channels = {res: int(mult * ngf) for res, mult in CHANNEL_MULTIPLIERS.items() if res <= resolution}
        if min(channels.values()) < 1:
            needed = math.ceil(1 / CHANNEL_MULTIPLIERS[resolution])
            raise ConfigError("model.ngf", ngf, f"must be >= {needed} at resolution {resolution} "
                              f"(the last block has ngf x {CHANNEL_MULTIPLIERS[resolution]} channels)")
        self.resolution = resolution
        self.z_dim = z_dim

        self.init = nn.Sequential(
            sn_conv_transpose2d(z_dim, channels[4] * 2, kernel_size=4, bias=False),
            nn.BatchNorm2d(channels[4] * 2),
            nn.GLU(dim=1),
        )
        self.up = nn.ModuleDict({str(res): UpBlock(channels[res // 2], channels[res])
                                 for res in channels if res > 4})
        self.se = nn.ModuleDict({str(target): SkipExcitation(channels[source], channels[target])
                                 for target, source in SE_SOURCES.items() if target <= resolution})
        self.to_rgb = sn_conv2d(channels[resolution], 3, kernel_size=3, padding=1, bias=True)

    @classmethod
    def from_config(cls, cfg) -> "Generator":
        return cls(resolution=cfg.resolution, z_dim=cfg.model.z_dim, ngf=cfg.model.ngf)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = normalize_second_moment(z)                                         # [B, z_dim]
        x = self.init(z[:, :, None, None])                                     # [B, C4, 4, 4]
        se_sources = {4: x}
        res = 4
        while res < self.resolution:
            res *= 2
            x = self.up[str(res)](x)                                           # [B, C_res, res, res]
            if str(res) in self.se:
                x = self.se[str(res)](se_sources[SE_SOURCES[res]], x)
            if res in SE_SOURCES.values():
                se_sources[res] = x
        return self.to_rgb(x)                                                  # [B, 3, R, R]
