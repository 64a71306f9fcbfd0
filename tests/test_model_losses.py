"""Hinge, total coding rate, invariance and the EMP loss against hand-computed values."""

import math

import pytest
import torch

from empgan.model.losses import emp_loss, hinge_d_fake, hinge_d_real, hinge_g, invariance, total_coding_rate


def test_hinge_losses():
    logits = torch.tensor([[2.0, -2.0], [0.5, 0.0]])
    assert hinge_d_real(logits).item() == (0 + 3 + 0.5 + 1) / 4
    assert hinge_d_fake(logits).item() == (3 + 0 + 1.5 + 1) / 4
    assert hinge_g(logits).item() == -0.125


def test_tcr_of_an_orthonormal_set_is_log_of_one_plus_d_over_m_eps():
    z = torch.eye(2)[None]                                                     # [1, m=2, d=2]
    # I + 2 / (2 * 0.5) * I = 3 I  ->  1/2 logdet = 1/2 log 9 = log 3
    torch.testing.assert_close(total_coding_rate(z, eps=0.5), torch.tensor([math.log(3)]))


def test_tcr_of_one_sample_is_the_rank_one_closed_form():
    a, b, eps = 0.6, 0.8, 0.2
    z = torch.tensor([[[a, b]]])                                               # [1, m=1, d=2]
    expected = 0.5 * math.log(1 + 2 / (1 * eps) * (a * a + b * b))             # det(I + c u u^T) = 1 + c |u|^2
    torch.testing.assert_close(total_coding_rate(z, eps), torch.tensor([expected]))


def test_tcr_is_computed_per_view_set_as_in_emp_ssl():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(3, 5, 4), dim=2)             # [V=3, m=5, d=4]
    eps = 0.2
    for v in range(3):
        w = z[v].T                                                             # EMP-SSL: W = X^T [d, m]
        expected = torch.logdet(torch.eye(4) + 4 / (5 * eps) * w @ w.T) / 2
        torch.testing.assert_close(total_coding_rate(z, eps)[v], expected)


def test_invariance_is_one_for_identical_views():
    torch.manual_seed(0)
    one_view = torch.randn(1, 6, 8)
    assert invariance(one_view.repeat(4, 1, 1)).item() == pytest.approx(1.0, abs=1e-6)


def test_invariance_of_two_orthogonal_views_is_cos_45_degrees():
    z = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])                             # [V=2, m=1, d=2]
    torch.testing.assert_close(invariance(z), torch.tensor(math.sqrt(0.5)))


def test_emp_loss_combines_the_terms_with_its_weights():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(4, 6, 8), dim=2)
    loss, tcr, inv = emp_loss(z, eps=0.2, inv_weight=200.0, tcr_weight=1.0)
    torch.testing.assert_close(tcr, total_coding_rate(z, 0.2).mean())
    torch.testing.assert_close(inv, invariance(z))
    torch.testing.assert_close(loss, -200 * inv - tcr)


def test_emp_loss_is_finite_when_all_views_collapse_to_one_point():
    for point in (torch.nn.functional.normalize(torch.ones(8), dim=0), torch.zeros(8)):
        z = point.repeat(4, 6, 1).requires_grad_()                             # [V=4, m=6, d=8]
        loss, tcr, inv = emp_loss(z, eps=0.2, inv_weight=200.0, tcr_weight=1.0)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    # A unit point: TCR = 1/2 log(1 + d / (m eps) * m) = 1/2 log(1 + 8 / 0.2); every view equals the mean.
    z = torch.nn.functional.normalize(torch.ones(8), dim=0).repeat(4, 6, 1)
    loss, tcr, inv = emp_loss(z, eps=0.2, inv_weight=200.0, tcr_weight=1.0)
    torch.testing.assert_close(tcr, torch.tensor(0.5 * math.log(1 + 8 / 0.2)))
    torch.testing.assert_close(inv, torch.tensor(1.0))
