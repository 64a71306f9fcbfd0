"""The losses: hinge (Projected GAN) and EMP-SSL's total coding rate and invariance."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d_real(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - logits).mean()


def hinge_d_fake(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 + logits).mean()


def hinge_g(logits: torch.Tensor) -> torch.Tensor:
    return (-logits).mean()


def total_coding_rate(z: torch.Tensor, eps: float) -> torch.Tensor:
    """TCR of each view set, as in EMP-SSL's code: 1/2 logdet(I_d + d / (m eps) Z^T Z).

    z: [V, m, d] (V view sets of m samples of dimension d) -> [V].
    """
    _, m, d = z.shape
    eye = torch.eye(d, dtype=z.dtype, device=z.device)                         # [d, d]
    gram = z.transpose(1, 2) @ z                                               # [V, d, d]
    return 0.5 * torch.logdet(eye + (d / (m * eps)) * gram)                    # [V]


def invariance(z: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of each view embedding to the mean embedding of its image's views.

    z: [V, m, d] (view v of sample i at z[v, i]) -> 0-d tensor in [-1, 1].
    """
    centre = z.mean(dim=0, keepdim=True)                                       # [1, m, d]
    return F.cosine_similarity(z, centre.expand_as(z), dim=2).mean()


def emp_loss(z: torch.Tensor, eps: float, inv_weight: float, tcr_weight: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L_EMP = -inv_weight * invariance - tcr_weight * mean_v TCR(view set v).

    z: [V, m, d] -> (loss, mean TCR, invariance), all 0-d.
    """
    tcr = total_coding_rate(z, eps).mean()
    inv = invariance(z)
    return -inv_weight * inv - tcr_weight * tcr, tcr, inv
