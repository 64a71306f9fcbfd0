"""Spectrally normalised convolutions, the building block of the generator and the D heads."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def sn_conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
              bias: bool = True) -> nn.Module:
    return spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias))


def sn_conv_transpose2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                        bias: bool = True) -> nn.Module:
    return spectral_norm(nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias))
