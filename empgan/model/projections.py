"""Projected GAN's random projections: cross-channel mixing (CCM) and cross-scale mixing (CSM).

Both are randomly initialised and never trained (frozen, like the feature network).
CCM: one 1x1 conv per scale, to base x (1, 2, 4, 8) channels (64/128/256/512 for base 64).
CSM, top-down: at the coarsest scale upsample x2 then 1x1 conv halving the channels; at each finer
scale add the coarser result, upsample x2 (bilinear, align_corners=True), 1x1 conv halving the
channels (the finest keeps its channels). Output: base x (1, 1, 2, 4) channels (64/64/128/256) at
twice the size of each stage's map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CCM_MULTIPLIERS = (1, 2, 4, 8)
CSM_MULTIPLIERS = (1, 1, 2, 4)


class RandomProjection(nn.Module):
    def __init__(self, in_channels: list[int], base_channels: int = 64):
        super().__init__()
        mixed = [base_channels * m for m in CCM_MULTIPLIERS]
        self.out_channels = [base_channels * m for m in CSM_MULTIPLIERS]
        self.channel_mixing = nn.ModuleList(nn.Conv2d(cin, cout, kernel_size=1)
                                            for cin, cout in zip(in_channels, mixed))
        self.scale_mixing = nn.ModuleList(nn.Conv2d(cin, cout, kernel_size=1)
                                          for cin, cout in zip(mixed, self.out_channels))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "RandomProjection":
        return super().train(False)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Stage maps [N, C_k, H_k, W_k] -> mixed maps [N, out_channels[k], 2 H_k, 2 W_k]."""
        mixed = [ccm(x) for ccm, x in zip(self.channel_mixing, maps)]
        outputs: list[torch.Tensor] = [None] * len(mixed)
        coarser = None
        for k in reversed(range(len(mixed))):
            x = mixed[k] if coarser is None else mixed[k] + coarser            # [N, C, H_k, W_k]
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            coarser = outputs[k] = self.scale_mixing[k](x)                     # [N, C', 2 H_k, 2 W_k]
        return outputs
