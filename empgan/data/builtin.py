"""Image sets shipped with installed packages (no download): `builtin:NAME`.

builtin:digits: scikit-learn's 1,797 handwritten digits (8x8, 17 gray levels 0..16), in
scikit-learn's order. Gray level g becomes g * 255 / 16, NOT inverted (a white digit on black, as
in MNIST); the whole set is resized at once to R x R with torch's bicubic interpolation
(antialiased when R < 8), rounded and clipped to uint8, and the channel repeated to RGB.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from empgan.data.image_set import ImageSet, content_hash
from empgan.errors import UserError

PREFIX = "builtin:"


def _digits(resolution: int) -> torch.Tensor:
    from sklearn.datasets import load_digits  # the data file ships inside scikit-learn

    levels = torch.from_numpy(load_digits().images).float()           # [1797, 8, 8], 0..16
    gray = (levels * (255.0 / 16.0)).unsqueeze(1)                      # [1797, 1, 8, 8], 0..255
    resized = F.interpolate(gray, size=(resolution, resolution), mode="bicubic",
                            align_corners=False, antialias=True)       # [1797, 1, R, R]
    pixels = resized.round().clamp(0, 255).to(torch.uint8)             # [1797, 1, R, R]
    return pixels.expand(-1, 3, -1, -1).contiguous()                   # [1797, 3, R, R]


BUILTIN_SETS: dict[str, Callable[[int], torch.Tensor]] = {"digits": _digits}


def load_builtin(spec: str, resolution: int) -> ImageSet:
    name = spec[len(PREFIX):]
    if name not in BUILTIN_SETS:
        raise UserError(f"data '{spec}': unknown builtin set '{name}'; available: "
                        + ", ".join(PREFIX + known for known in sorted(BUILTIN_SETS)))
    images = BUILTIN_SETS[name](resolution)  # uint8 [N, 3, R, R]
    return ImageSet(images, spec, resolution, content_hash(images, resolution), [])
