"""Projected GAN's discriminator: frozen feature network -> frozen random projections -> trained heads.

The composite model (empgan.py) decides which parts run with gradients; this module only holds
the three parts and knows the map sizes for a given input size.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from empgan.model.feature_network import FeatureNetwork
from empgan.model.heads import MultiScaleHeads
from empgan.model.projections import RandomProjection

CSM_UPSAMPLING = 2   # cross-scale mixing doubles every map


class ProjectedDiscriminator(nn.Module):
    def __init__(self, input_size: int, feature_net: str = "tf_efficientnet_lite0", pretrained: bool = True,
                 feature_weights: Optional[str] = None):
        super().__init__()
        self.feature_network = FeatureNetwork(feature_net, pretrained, feature_weights)
        self.projection = RandomProjection(self.feature_network.channels)
        # Stride-2 convs with 'same' padding: a stage of stride s maps S px to ceil(S / s).
        self.feature_sizes = [math.ceil(input_size / stride) for stride in self.feature_network.strides]
        self.heads = MultiScaleHeads(self.projection.out_channels,
                                     [size * CSM_UPSAMPLING for size in self.feature_sizes])

    def logits(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Stage maps of the feature network -> logits [N, num_logits]."""
        return self.heads(self.projection(maps))
