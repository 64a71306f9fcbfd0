"""A differentiable StyleGAN2-ADA-style augmentation pipeline with the 'bgc' set of ops.

Ops, in ADA's order and with ADA's ranges: x-flip, 90-degree rotations, integer translation
(up to 1/8), isotropic scale (log2 std 0.2), pre-rotation (any angle), anisotropic scale (log2 std
0.2), post-rotation, fractional translation (std 1/8); brightness (std 0.2), contrast (log2 std
0.5), luma flip, hue rotation (any angle), saturation (log2 std 1). Each op fires for each image
independently with probability p = min(1, prob * p_base); the two rotations with
1 - sqrt(1 - p) each, so that some rotation happens with probability p, as in ADA.

All geometric ops are composed into one inverse affine matrix per image and applied by a single
`affine_grid` + `grid_sample` (bilinear, reflection padding); all colour ops into one 4x4 colour
matrix per image. Simplified compared with StyleGAN2-ADA: no 2x upsampling with the sym6 wavelet
filter before the warp and no filtered downsampling after it (ADA's anti-aliasing), and reflection
comes from grid_sample's padding instead of an explicit reflect pad. Image-space filtering, noise
and cutout ('filt', 'noise', 'cutout' sets) are not part of 'bgc' and not implemented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

XINT_MAX = 0.125        # integer translation range, relative to the image size
SCALE_STD = 0.2         # log2 std of isotropic scaling
ANISO_STD = 0.2         # log2 std of anisotropic scaling
XFRAC_STD = 0.125       # std of fractional translation, relative to the image size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5      # log2
SATURATION_STD = 1.0    # log2


def _affine(a: torch.Tensor, b: torch.Tensor, tx: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
            ty: torch.Tensor) -> torch.Tensor:
    """Per-image 2D homogeneous matrices [[a, b, tx], [c, d, ty], [0, 0, 1]] -> [N, 3, 3]."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([a, b, tx, c, d, ty, zero, zero, one], dim=1).reshape(-1, 3, 3)


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    return _affine(one, zero, tx, zero, one, ty)


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(sx)
    return _affine(sx, zero, zero, zero, sy, zero)


def rotate2d(theta: torch.Tensor) -> torch.Tensor:
    zero, cos, sin = torch.zeros_like(theta), torch.cos(theta), torch.sin(theta)
    return _affine(cos, -sin, zero, sin, cos, zero)


def luma_axis(device: torch.device) -> torch.Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)   # [4]


def warp(images: torch.Tensor, g_inv: torch.Tensor) -> torch.Tensor:
    """Images [N, C, H, W] resampled by inverse transforms g_inv [N, 3, 3] (output pixel -> input pixel,
    pixel units centred on the image), bilinear with reflection at the borders."""
    n, channels, height, width = images.shape
    to_unit = torch.diag(torch.tensor([2 / width, 2 / height, 1.0], device=images.device))
    from_unit = torch.diag(torch.tensor([width / 2, height / 2, 1.0], device=images.device))
    theta = to_unit @ g_inv @ from_unit                                        # [N, 3, 3] in [-1, 1] units
    grid = F.affine_grid(theta[:, :2, :].to(images.dtype), [n, channels, height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def apply_colour(images: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """RGB images [N, 3, H, W] times homogeneous colour matrices c [N, 4, 4]."""
    n, channels, height, width = images.shape
    c = c.to(images.dtype)
    flat = images.reshape(n, channels, height * width)                         # [N, 3, H * W]
    flat = c[:, :3, :3] @ flat + c[:, :3, 3:]                                   # [N, 3, H * W]
    return flat.reshape(n, channels, height, width)                            # [N, 3, H, W]


class AdaAugment(nn.Module):
    """Images [N, 3, H, W] -> augmented [N, 3, H, W]; identity when the op probability is 0."""

    def __init__(self, probability: float):
        super().__init__()
        self.probability = float(min(1.0, max(0.0, probability)))

    def _gate(self, value: torch.Tensor, identity: float, probability: float | None = None) -> torch.Tensor:
        """value [N, ...] where the op fires for image n, `identity` elsewhere."""
        p = self.probability if probability is None else probability
        fires = torch.rand(value.shape[0], device=value.device) < p            # [N]
        fires = fires.reshape(-1, *[1] * (value.dim() - 1))                    # [N, 1, ...]
        return torch.where(fires, value, torch.full_like(value, identity))

    def geometry(self, n: int, height: int, width: int, device: torch.device) -> torch.Tensor:
        """Inverse transforms (output pixel -> input pixel, centred pixel units) [N, 3, 3]."""
        uniform = torch.rand(4, n, device=device)                              # [4, N] in [0, 1)
        normal = torch.randn(2, n, device=device)                              # [2, N]
        p_rotation = 1 - math.sqrt(1 - self.probability)

        flip = self._gate(torch.floor(uniform[0] * 2), 0.0)
        g_inv = scale2d(1 - 2 * flip, torch.ones_like(flip))
        quarter_turns = self._gate(torch.floor(uniform[1] * 4), 0.0)
        g_inv = g_inv @ rotate2d(math.pi / 2 * quarter_turns)
        shift = self._gate((torch.rand(n, 2, device=device) * 2 - 1) * XINT_MAX, 0.0)  # [N, 2]
        g_inv = g_inv @ translate2d(-torch.round(shift[:, 0] * width), -torch.round(shift[:, 1] * height))
        scale = self._gate(torch.exp2(normal[0] * SCALE_STD), 1.0)
        g_inv = g_inv @ scale2d(1 / scale, 1 / scale)
        g_inv = g_inv @ rotate2d(self._gate((uniform[2] * 2 - 1) * math.pi, 0.0, p_rotation))
        aniso = self._gate(torch.exp2(normal[1] * ANISO_STD), 1.0)
        g_inv = g_inv @ scale2d(1 / aniso, aniso)
        g_inv = g_inv @ rotate2d(self._gate((uniform[3] * 2 - 1) * math.pi, 0.0, p_rotation))
        frac = self._gate(torch.randn(n, 2, device=device) * XFRAC_STD, 0.0)   # [N, 2]
        return g_inv @ translate2d(-frac[:, 0] * width, -frac[:, 1] * height)

    def colour(self, n: int, device: torch.device) -> torch.Tensor:
        """Colour transforms (homogeneous RGB) [N, 4, 4]."""
        eye = torch.eye(4, device=device).expand(n, 4, 4)                      # [N, 4, 4]
        v = luma_axis(device)
        vv = torch.outer(v, v)                                                 # [4, 4]
        c = eye.clone()

        brightness = self._gate(torch.randn(n, device=device) * BRIGHTNESS_STD, 0.0)
        offset = eye.clone()
        offset[:, :3, 3] = brightness[:, None]
        c = offset @ c
        contrast = self._gate(torch.exp2(torch.randn(n, device=device) * CONTRAST_STD), 1.0)
        c = torch.diag_embed(torch.stack([contrast] * 3 + [torch.ones_like(contrast)], dim=1)) @ c
        luma_flip = self._gate(torch.floor(torch.rand(n, device=device) * 2), 0.0)
        c = (eye - 2 * vv * luma_flip[:, None, None]) @ c                      # Householder reflection
        theta = self._gate((torch.rand(n, device=device) * 2 - 1) * math.pi, 0.0)
        c = self._rotation_about(v, theta) @ c
        saturation = self._gate(torch.exp2(torch.randn(n, device=device) * SATURATION_STD), 1.0)
        return (vv + (eye - vv) * saturation[:, None, None]) @ c

    @staticmethod
    def _rotation_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Rotations by theta [N] about the unit axis [4] (4th entry 0) -> [N, 4, 4] (Rodrigues)."""
        x, y, z = axis[0], axis[1], axis[2]
        cross = torch.zeros(4, 4, device=axis.device)
        cross[0, 1], cross[0, 2], cross[1, 0], cross[1, 2], cross[2, 0], cross[2, 1] = -z, y, z, -x, -y, x
        outer = torch.outer(axis, axis)                                        # [4, 4]
        eye3 = torch.diag(torch.tensor([1.0, 1.0, 1.0, 0.0], device=axis.device))
        cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        rotation = cos * eye3 + sin * cross + (1 - cos) * outer                # [N, 4, 4]
        rotation[:, 3, 3] = 1.0
        return rotation

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.probability == 0:
            return images
        n, _, height, width = images.shape
        images = warp(images, self.geometry(n, height, width, images.device))
        return apply_colour(images, self.colour(n, images.device))
