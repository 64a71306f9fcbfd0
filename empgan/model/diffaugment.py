"""DiffAugment (Zhao et al. 2020) as used by Projected GAN on every input of D.

Policies: 'color' (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]), 'translation'
(integer shift up to 1/8 of the size, zero fill), 'cutout' (a zeroed square of 0.2 x the size).
Every sample draws its own parameters (torch's global RNG); all ops are differentiable in the image.
"""

from __future__ import annotations

import torch

from empgan.errors import ConfigError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.2


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' -> (). Unknown names are a ConfigError."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ConfigError("augment.diffaugment", policy,
                          f"unknown polic{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
                          f"allowed: a comma-separated subset of {', '.join(POLICIES)} (or empty)")
    return names


def _uniform(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)    # [N, 1, 1, 1]


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_uniform(x) - 0.5)                                                # brightness
    mean = x.mean(dim=1, keepdim=True)                                         # [N, 1, H, W]
    x = (x - mean) * (_uniform(x) * 2) + mean                                  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)                                 # [N, 1, 1, 1]
    return (x - mean) * (_uniform(x) + 0.5) + mean                             # contrast


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1), device=x.device)           # [N, 1]
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1), device=x.device)           # [N, 1]
    # Index into the image padded by one zero pixel; indices that leave the image hit the padding.
    rows = (torch.arange(h, device=x.device) + dy + 1).clamp(0, h + 1)        # [N, H]
    cols = (torch.arange(w, device=x.device) + dx + 1).clamp(0, w + 1)        # [N, W]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))                          # [N, C, H + 2, W + 2]
    batch = torch.arange(n, device=x.device)[:, None, None]                    # [N, 1, 1]
    shifted = padded[batch, :, rows[:, :, None], cols[:, None, :]]             # [N, H, W, C]
    return shifted.permute(0, 3, 1, 2)                                         # [N, C, H, W]


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre_y = torch.randint(0, h + (1 - size_y % 2), (n, 1), device=x.device)  # [N, 1]
    centre_x = torch.randint(0, w + (1 - size_x % 2), (n, 1), device=x.device)  # [N, 1]
    top, left = centre_y - size_y // 2, centre_x - size_x // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_y = (ys >= top) & (ys < top + size_y)                               # [N, H]
    inside_x = (xs >= left) & (xs < left + size_x)                             # [N, W]
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])                      # [N, H, W]
    return x * keep[:, None].to(x.dtype)                                       # [N, C, H, W]


AUGMENTS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """Images [N, C, H, W] -> augmented [N, C, H, W], the policies applied in the given order."""
    for name in policy:
        x = AUGMENTS[name](x)
    return x
