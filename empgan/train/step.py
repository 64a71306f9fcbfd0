"""One training iteration's two optimiser steps, as the trainer runs them and bench/ times them.

D step: zero grad, `w * d_loss + emp_loss`, backward, Adam. G step: zero grad, G's loss through the
frozen D, backward, Adam. `perf.autocast: bf16` runs both forwards under bf16 autocast (the model
keeps its logits and the EMP loss in fp32); `perf.compile` compiles G and the feature network's
stages in place (state-dict keys unchanged, so checkpoints are the same with and without it);
a graph torch cannot compile runs eagerly instead (dynamo's `suppress_errors`), with a warning.
"""

from __future__ import annotations

import contextlib

import torch

from empgan.config import TrainConfig
from empgan.model import EMPGAN


class TrainStep:
    def __init__(self, model: EMPGAN, cfg: TrainConfig, device: torch.device):
        self.model = model
        self.device = device
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_g = torch.optim.Adam(model.g_trainable_parameters(), lr=cfg.optim.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(model.d_trainable_parameters(), lr=cfg.optim.lr_d, betas=betas)
        self.autocast_dtype = torch.bfloat16 if cfg.perf.autocast == "bf16" else None
        if cfg.perf.compile:
            compile_in_place(model)

    def _forward_context(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def d_step(self, real: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """real [B, 3, R, R] in [-1, 1], z [B, z_dim] -> detached loss terms."""
        self.opt_d.zero_grad(set_to_none=True)
        with self._forward_context():
            loss, stats = self.model.d_loss(real, z)
        loss.backward()
        self.opt_d.step()
        return stats

    def g_step(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z [B, z_dim] -> detached loss terms."""
        self.opt_g.zero_grad(set_to_none=True)
        with self._forward_context():
            loss, stats = self.model.g_loss(z)
        loss.backward()
        self.opt_g.step()
        return stats


def compile_in_place(model: EMPGAN) -> None:
    """torch.compile the generator and every feature-network stage; uncompilable graphs fall back to eager."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    model.G.compile()
    for stage in model.D.feature_network.stages:
        stage.compile()
