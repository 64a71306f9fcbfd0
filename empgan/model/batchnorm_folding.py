"""Fold frozen eval-mode BatchNorm into the convolution before it (exact up to float rounding).

A frozen BatchNorm in eval mode is a per-channel affine map y = scale * x + shift with
scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale; after a convolution
it becomes the convolution's own weight and bias: W' = W * scale[:, None, None, None],
b' = b * scale + shift. The frozen stages of the feature network run every view of every image
through ~50 such pairs per step, so folding removes a memory-bound pass over every activation
(and its backward pass in the G step) without changing the maths.

Pairs are found by registration order inside one parent module (a Conv2d child directly
followed by a BatchNorm2d child), which is also the forward order in timm's EfficientNet /
MobileNet blocks (conv_stem/bn1, conv_dw/bn1, conv_pw/bn2, conv_pwl/bn3, ...). timm's
BatchNormAct2d carries its activation, which stays in place of the BatchNorm.
"""

from __future__ import annotations

import torch
from torch import nn


def _after_batchnorm(bn: nn.BatchNorm2d) -> nn.Module:
    """What remains of a BatchNorm once its affine map is folded: timm's fused activation, or nothing."""
    act, drop = getattr(bn, "act", None), getattr(bn, "drop", None)
    parts = [m for m in (drop, act) if m is not None and not isinstance(m, nn.Identity)]
    return nn.Sequential(*parts) if len(parts) > 1 else (parts[0] if parts else nn.Identity())


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> int:
    """Fold every frozen (eval, running-stats) BatchNorm2d that directly follows a Conv2d; returns how many."""
    folded = 0
    for parent in list(module.modules()):
        names = list(parent._modules)
        for conv_name, bn_name in zip(names, names[1:]):
            conv, bn = parent._modules[conv_name], parent._modules[bn_name]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats):
                continue
            gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
            beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
            scale = gamma * (bn.running_var + bn.eps).rsqrt()                  # [C_out]
            shift = beta - bn.running_mean * scale                             # [C_out]
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.weight = nn.Parameter(conv.weight * scale.reshape(-1, 1, 1, 1), requires_grad=False)
            conv.bias = nn.Parameter(bias.clone(), requires_grad=False)
            parent._modules[bn_name] = _after_batchnorm(bn)
            folded += 1
    return folded
