"""Creating the timm backbone with its weights: random init, a pre-placed file, or timm's hub.

Order for `pretrained: true`: the file named by `model.feature_weights`; else
`$EMPGAN_WEIGHTS_DIR/<feature_net>.safetensors` or `.pth`; else timm's ImageNet weights (its
Hugging Face cache, or a download). Offline without any of them is a UserError that says how to fix
it. `pretrained: false` never touches the disk or the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import timm
from torch import nn

from empgan.errors import UserError, first_line

WEIGHTS_DIR_ENV = "EMPGAN_WEIGHTS_DIR"
WEIGHTS_SUFFIXES = (".safetensors", ".pth")


def local_weights_file(feature_net: str, feature_weights: Optional[str]) -> Optional[Path]:
    """The pre-placed weights file to use, or None to use timm's hub. A named file must exist."""
    if feature_weights:
        path = Path(feature_weights).expanduser()
        if not path.is_file():
            raise UserError(f"config key 'model.feature_weights' = {feature_weights!r}: file does not exist; "
                            "give the path of a .safetensors/.pth state dict of "
                            f"'{feature_net}', or set pretrained=false")
        return path
    weights_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if weights_dir:
        for suffix in WEIGHTS_SUFFIXES:
            path = Path(weights_dir).expanduser() / f"{feature_net}{suffix}"
            if path.is_file():
                return path
    return None


def create_backbone(feature_net: str, pretrained: bool, feature_weights: Optional[str] = None) -> nn.Module:
    """The full timm classifier network `feature_net`, with weights as described in the module doc."""
    if not timm.is_model(feature_net):
        raise UserError(f"config key 'model.feature_net' = {feature_net!r}: not a timm model name "
                        "(e.g. tf_efficientnet_lite0)")
    if not pretrained:
        return timm.create_model(feature_net, pretrained=False)
    path = local_weights_file(feature_net, feature_weights)
    if path is not None:
        model = timm.create_model(feature_net, pretrained=False)
        try:
            timm.models.load_checkpoint(model, str(path), strict=True)
        except Exception as exc:  # noqa: BLE001 -- any unreadable or mismatching file is the user's to fix
            raise UserError(f"weights file '{path}' is not a state dict of '{feature_net}': {first_line(exc)[:300]}") from None
        return model
    try:
        return timm.create_model(feature_net, pretrained=True)
    except OSError:  # offline (HF_HUB_OFFLINE, no connection) and not in the local cache
        raise UserError(
            f"config key 'pretrained' = True: ImageNet weights of '{feature_net}' are not available offline; "
            f"set pretrained=false, set model.feature_weights to a weights file (or place "
            f"${WEIGHTS_DIR_ENV}/{feature_net}.safetensors), or run `empgan weights fetch` on a machine "
            "with internet") from None
