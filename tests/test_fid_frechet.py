"""frechet_distance (no sqrtm) against clean-fid's sqrtm-based formula and closed forms."""

import warnings

import numpy as np
import pytest
from cleanfid.fid import frechet_distance as cleanfid_frechet_distance

from empgan.metrics.frechet import frechet_distance, trace_sqrt_product


def gaussian_from_samples(rng, num_samples: int, dim: int, shift: float = 0.0):
    """(mu [d], sigma [d, d]) of correlated samples; rank-deficient when num_samples <= dim."""
    mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim)             # [d, d]
    scales = rng.uniform(0.2, 3.0, dim)                                 # [d]
    samples = rng.standard_normal((num_samples, dim)) * scales @ mixing + shift  # [n, d]
    return samples.mean(axis=0), np.cov(samples, rowvar=False)


def reference(mu1, sigma1, mu2, sigma2) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's deprecated `disp` argument inside clean-fid
        return float(cleanfid_frechet_distance(mu1, sigma1, mu2, sigma2))


def test_one_dimensional_closed_form():
    # N(0, a) vs N(m, b): m^2 + (sqrt(a) - sqrt(b))^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(9.0 + 1.0, abs=1e-12)


def test_identical_gaussians_give_zero():
    mu, sigma = gaussian_from_samples(np.random.default_rng(0), 500, 64)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9


@pytest.mark.parametrize("dim", [16, 256])
def test_full_rank_matches_cleanfid_sqrtm(dim):
    rng = np.random.default_rng(dim)
    mu1, sigma1 = gaussian_from_samples(rng, 4 * dim, dim)
    mu2, sigma2 = gaussian_from_samples(rng, 4 * dim, dim, shift=0.3)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert ours > 1.0
    assert ours == pytest.approx(reference(mu1, sigma1, mu2, sigma2), abs=1e-3)
    assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(ours, abs=1e-6)  # symmetric


@pytest.mark.parametrize("n1,n2", [(40, 40), (40, 400), (400, 40)])
def test_rank_deficient_matches_cleanfid_sqrtm(n1, n2):
    """Fewer samples than dimensions on one or both sides (the eigh fallback of the factorisation)."""
    rng = np.random.default_rng(n1 + n2)
    dim = 128
    mu1, sigma1 = gaussian_from_samples(rng, n1, dim)
    mu2, sigma2 = gaussian_from_samples(rng, n2, dim, shift=0.1)
    assert np.linalg.matrix_rank(sigma1) == min(n1 - 1, dim)
    assert np.linalg.matrix_rank(sigma2) == min(n2 - 1, dim)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert ours == pytest.approx(reference(mu1, sigma1, mu2, sigma2), abs=1e-3)


def test_trace_sqrt_product_of_commuting_diagonals():
    a, b = np.diag([1.0, 4.0, 0.0]), np.diag([9.0, 1.0, 5.0])
    assert trace_sqrt_product(a, b) == pytest.approx(3.0 + 2.0 + 0.0, abs=1e-12)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


@pytest.mark.slow
def test_2048_dims_matches_cleanfid_sqrtm():
    """The Inception feature size (clean-fid's sqrtm takes 11 s or more here; rank deficiency is covered above)."""
    rng = np.random.default_rng(2048)
    mu1, sigma1 = gaussian_from_samples(rng, 2500, 2048)
    mu2, sigma2 = gaussian_from_samples(rng, 2500, 2048, shift=0.05)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(reference(mu1, sigma1, mu2, sigma2), abs=1e-3)
