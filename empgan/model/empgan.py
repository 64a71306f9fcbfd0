"""EMP-GAN: Projected GAN (generator + projected discriminator) plus the multi-view EMP-SSL loss.

One code path for both models: `patch_num: 1, prob: 0, emp: off` is the Projected GAN baseline
(one DiffAugmented view, hinge loss, no projector).

D step: G makes fakes without gradients; every real and fake image becomes `patch_num` views;
all views go through the frozen feature network in one batch (it is in eval mode, so batching
real with fake is exact); the random projections and heads then run on the real views and on the
fake views separately (the heads' BatchNorm sees real and fake batches apart, as in Projected
GAN). The deepest map of the real views also feeds the EMP projector. The hinge loss reaches the
heads only: the deepest map is detached before the projections, so a last stage tuned by EMP
learns from EMP alone.
G step: D is frozen (no parameter of D, the projector or the feature network requires grad) and
G gets the gradients of the hinge loss (plus EMP on its views with `emp_loss.on_fake`) through D.
Weights and activations are channels_last with `perf.channels_last`; under bf16 autocast
(`perf.autocast`, set up by the trainer) the logits and the EMP loss are still computed in fp32.
"""

from __future__ import annotations

import torch
from torch import nn

from empgan.errors import ConfigError
from empgan.model.discriminator import ProjectedDiscriminator
from empgan.model.generator import Generator
from empgan.model.losses import emp_loss, hinge_d_fake, hinge_d_real, hinge_g
from empgan.model.projector import EmpProjector
from empgan.model.views import ViewAugment

FEATURE_STRIDE = 32   # the deepest stage's stride; resized inputs must be a multiple of it


class EMPGAN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.model.feature_resize % FEATURE_STRIDE:
            raise ConfigError("model.feature_resize", cfg.model.feature_resize,
                              f"must be 0 (native size) or a multiple of {FEATURE_STRIDE}, e.g. 224")
        self.patch_num = cfg.patch_num
        self.w = cfg.w
        self.emp = cfg.emp
        self.emp_on_fake = cfg.emp and cfg.emp_loss.on_fake
        self.emp_trains_last_stage = cfg.emp and cfg.emp_loss.tune_backbone == "last_stage"
        self.emp_eps = cfg.emp_loss.eps
        self.emp_inv_weight = cfg.emp_loss.inv_weight
        self.emp_tcr_weight = cfg.emp_loss.tcr_weight
        self.memory_format = torch.channels_last if cfg.perf.channels_last else torch.contiguous_format

        self.G = Generator.from_config(cfg)
        self.z_dim = self.G.z_dim
        self.views = ViewAugment(
            patch_num       = cfg.patch_num,
            ada_probability = min(1.0, cfg.prob * cfg.augment.p_base),
            diffaugment     = cfg.augment.diffaugment,
            resolution      = cfg.resolution,
            feature_resize  = cfg.model.feature_resize,
            memory_format   = self.memory_format,
        )
        self.D = ProjectedDiscriminator(
            input_size      = self.views.output_size,
            feature_net     = cfg.model.feature_net,
            pretrained      = cfg.pretrained,
            feature_weights = cfg.model.feature_weights,
        )
        self.projector = EmpProjector(
            in_channels     = self.D.feature_network.channels[-1],
            map_size        = self.D.feature_sizes[-1],
            hidden          = cfg.emp_loss.hidden,
            out_len         = cfg.len,
            reduce_channels = cfg.emp_loss.reduce_channels if cfg.proj_reduce else None,
        ) if cfg.emp else None
        self.to(memory_format=self.memory_format)                             # 4-D weights only

    # ---- parameters ------------------------------------------------------------------------------

    def d_trainable_parameters(self) -> list[nn.Parameter]:
        params = list(self.D.heads.parameters())
        if self.projector is not None:
            params += list(self.projector.parameters())
        if self.emp_trains_last_stage:
            params += list(self.D.feature_network.last_stage.parameters())
        return params

    def g_trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.G.parameters())

    def _train_side(self, d_step: bool) -> None:
        """Only the side being trained requires grad; the frozen parts never do."""
        self.G.requires_grad_(not d_step)
        for param in self.d_trainable_parameters():
            param.requires_grad_(d_step)

    # ---- losses ----------------------------------------------------------------------------------

    def _emp(self, deepest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Deepest maps of V x B views [V * B, C, H, W] -> (L_EMP, TCR, invariance)."""
        z = self.projector(deepest).float()                                    # [V * B, len]
        z = z.reshape(self.patch_num, -1, z.shape[1])                          # [V, B, len]
        with torch.autocast(z.device.type, enabled=False):                     # logdet of the Gram matrix in fp32
            return emp_loss(z, self.emp_eps, self.emp_inv_weight, self.emp_tcr_weight)

    def d_loss(self, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """real [B, 3, R, R] in [-1, 1], z [B, z_dim] -> (w * hinge + L_EMP(real views), stats)."""
        self._train_side(d_step=True)
        features = self.D.feature_network
        with torch.no_grad():
            fake = self.G(z)                                                   # [B, 3, R, R]
            real_views = self.views(real)                                      # [V * B, 3, S, S]
            both = torch.cat([real_views, self.views(fake)])                  # [2 * V * B, 3, S, S]
            maps = features.early_stages(both)
        n_real = real_views.shape[0]
        if self.emp_trains_last_stage:
            real_deepest = features.last_stage(maps[-1][:n_real])              # [V * B, C, H, W], grad
            with torch.no_grad():
                fake_deepest = features.last_stage(maps[-1][n_real:])
            deepest = torch.cat([real_deepest.detach(), fake_deepest])         # [2 * V * B, C, H, W]
        else:
            with torch.no_grad():
                deepest = features.last_stage(maps[-1])
            real_deepest = deepest[:n_real]
        with torch.no_grad():
            projected = self.D.projection(maps + [deepest])
        logits_real = self.D.heads([x[:n_real] for x in projected]).float()   # [V * B, L]
        logits_fake = self.D.heads([x[n_real:] for x in projected]).float()   # [V * B, L]
        d_real, d_fake = hinge_d_real(logits_real), hinge_d_fake(logits_fake)
        loss = self.w * (d_real + d_fake)

        zero = torch.zeros((), device=real.device)
        emp, tcr, inv = zero, zero, zero
        if self.emp:
            emp, tcr, inv = self._emp(real_deepest)
            loss = loss + emp
        stats = {"loss/d_real": d_real, "loss/d_fake": d_fake, "loss/emp": emp,
                 "emp/tcr": tcr, "emp/invariance": inv}
        return loss, {key: value.detach() for key, value in stats.items()}

    def g_loss(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """z [B, z_dim] -> (mean(-D(views of G(z))) [+ L_EMP(fake views)], stats)."""
        self._train_side(d_step=False)
        fake_views = self.views(self.G(z))                                     # [V * B, 3, S, S]
        maps = self.D.feature_network(fake_views)
        g_hinge = hinge_g(self.D.logits(maps).float())
        loss, emp = g_hinge, torch.zeros((), device=z.device)
        if self.emp_on_fake:
            emp, _, _ = self._emp(maps[-1])
            loss = loss + emp
        return loss, {"loss/g": g_hinge.detach(), "loss/g_emp": emp.detach()}
