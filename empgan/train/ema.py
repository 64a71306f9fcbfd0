"""Exponential moving average of the generator (G_ema), with the half-life counted in images."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    G_ema = copy.deepcopy(G).eval()
    G_ema.requires_grad_(False)
    return G_ema


def ema_beta(batch: int, cur_nimg: int, half_life_kimg: float, rampup: float) -> float:
    """Decay per step: half-life `half_life_kimg` thousand images, ramped up to cur_nimg * rampup early on."""
    half_life_nimg = half_life_kimg * 1000
    if rampup > 0:
        half_life_nimg = min(half_life_nimg, cur_nimg * rampup)
    return 0.5 ** (batch / max(half_life_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
