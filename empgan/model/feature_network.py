"""The frozen pretrained feature network of Projected GAN, cut into four stages.

For tf_efficientnet_lite0: stem + blocks 0-1 (24 ch, stride 4), block 2 (40 ch, stride 8),
blocks 3-4 (112 ch, stride 16), blocks 5-6 (320 ch, stride 32). The cut points and channels come
from timm's `feature_info` (its last four entries), so any timm network of the EfficientNet /
MobileNet family (conv_stem, bn1, blocks) works. Images go in as they are ([-1, 1], no ImageNet
normalisation), as in Projected GAN. The network is always in eval mode (BatchNorm running
statistics) and its parameters never require grad here; only the last stage may be made trainable
by the EMP loss, which the composite model switches on and off. The BatchNorms of the three
frozen early stages are folded into their convolutions (batchnorm_folding.py); the last stage keeps
its BatchNorms, whose affine parameters EMP may train.
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Optional

import torch
from torch import nn

from empgan.errors import ConfigError
from empgan.model.batchnorm_folding import fold_batchnorm
from empgan.model.pretrained_weights import create_backbone

NUM_STAGES = 4


class FeatureNetwork(nn.Module):
    def __init__(self, feature_net: str = "tf_efficientnet_lite0", pretrained: bool = True,
                 feature_weights: Optional[str] = None, backbone: Optional[nn.Module] = None):
        """`backbone`: an already built timm network of `feature_net` (default: create it with its weights)."""
        super().__init__()
        backbone = backbone if backbone is not None else create_backbone(feature_net, pretrained, feature_weights)
        info = list(backbone.feature_info)[-NUM_STAGES:]
        block_ends = [re.fullmatch(r"blocks\.(\d+)", entry["module"]) for entry in info]
        if not all(hasattr(backbone, name) for name in ("conv_stem", "bn1", "blocks")) or not all(block_ends):
            raise ConfigError("model.feature_net", feature_net,
                              "must be a timm network of the EfficientNet/MobileNet family "
                              "(conv_stem, bn1, blocks), e.g. tf_efficientnet_lite0")
        ends = [int(match.group(1)) for match in block_ends]
        starts = [0] + [end + 1 for end in ends[:-1]]
        stages = [nn.Sequential(*backbone.blocks[start:end + 1]) for start, end in zip(starts, ends)]
        stages[0] = nn.Sequential(backbone.conv_stem, backbone.bn1, *stages[0])
        self.stages = nn.ModuleList(stages)
        self.channels = [entry["num_chs"] for entry in info]                   # e.g. [24, 40, 112, 320]
        self.strides = [entry["reduction"] for entry in info]                  # e.g. [4, 8, 16, 32]
        self.requires_grad_(False)
        self.eval()
        self._fold_early_batchnorms(feature_net)

    @torch.no_grad()
    def _fold_early_batchnorms(self, feature_net: str) -> None:
        """Fold the frozen stages' BatchNorms, checked against the unfolded stages on a probe input."""
        unfolded = copy.deepcopy(self.stages[:-1])
        for stage in self.stages[:-1]:
            fold_batchnorm(stage)
        probe = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))   # [2, 3, 64, 64]
        x_ref, x_new = probe, probe
        for ref_stage, new_stage in zip(unfolded, self.stages[:-1]):
            x_ref, x_new = ref_stage(x_ref), new_stage(x_new)
            if not torch.allclose(x_ref, x_new, rtol=1e-3, atol=1e-4 * max(1.0, float(x_ref.abs().max()))):
                warnings.warn(f"{feature_net}: folding BatchNorm into the convolutions changed the features; "
                              "running its BatchNorms unfolded")
                for index, stage in enumerate(unfolded):
                    self.stages[index] = stage
                return

    @property
    def last_stage(self) -> nn.Module:
        return self.stages[-1]

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)

    def early_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps of all stages but the last: [N, C_k, S / stride_k, S / stride_k], k = 0, 1, 2."""
        maps = []
        for stage in self.stages[:-1]:
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images [N, 3, S, S] -> the four stage maps [N, C_k, S / stride_k, S / stride_k]."""
        maps = self.early_stages(x)
        return maps + [self.last_stage(maps[-1])]
