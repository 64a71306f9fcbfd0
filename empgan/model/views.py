"""What D looks at: `patch_num` independently augmented views of every image, at the feature net's size.

Per view: the ADA 'bgc' pipeline (op probability min(1, prob * p_base); prob 0 = identity), then
DiffAugment, then a bilinear resize to `feature_resize` when the images are smaller than that
(Projected GAN feeds EfficientNet at 224 px), in the model's memory format (channels_last by
default, `perf.channels_last`). All V x B views go through each op as one batch, every view drawing
its own parameters; no loop over views or images. Views are stacked view-major: row v * B + b is view v
of image b, so `.reshape(V, B, ...)` recovers [view, image].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from empgan.model.ada_augment import AdaAugment
from empgan.model.diffaugment import diff_augment, parse_policy


class ViewAugment(nn.Module):
    def __init__(self, patch_num: int, ada_probability: float, diffaugment: str, resolution: int,
                 feature_resize: int, memory_format: torch.memory_format = torch.contiguous_format):
        super().__init__()
        self.patch_num = patch_num
        self.ada = AdaAugment(ada_probability)
        self.policy = parse_policy(diffaugment)
        self.output_size = max(resolution, feature_resize)                  # feature_resize 0: native
        self.memory_format = memory_format

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, R, R] -> views [V * B, 3, S, S] (view-major)."""
        views = images.repeat(self.patch_num, 1, 1, 1)                         # [V * B, 3, R, R]
        views = self.ada(views)
        views = diff_augment(views, self.policy)
        if views.shape[-1] != self.output_size:
            views = F.interpolate(views, size=self.output_size, mode="bilinear", align_corners=False)
        return views.contiguous(memory_format=self.memory_format)              # [V * B, 3, S, S]
