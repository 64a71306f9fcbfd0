"""FastGAN-lite generator: shapes, SE blocks per resolution, z normalisation, config errors."""

import copy

import pytest
import torch

from empgan.config import load_config
from empgan.errors import ConfigError
from empgan.model.generator import Generator


@pytest.mark.parametrize("resolution, se_targets", [
    (32, []),
    (64, ["64"]),
    (128, ["64", "128"]),
    (256, ["64", "128", "256"]),
    (1024, ["64", "128", "256", "512"]),
])
def test_output_shape_and_se_blocks(resolution, se_targets):
    torch.manual_seed(0)
    G = Generator(resolution, z_dim=16, ngf=8)
    img = G(torch.randn(2, 16))
    assert img.shape == (2, 3, resolution, resolution)
    assert torch.isfinite(img).all()
    assert sorted(G.se.keys(), key=int) == se_targets
    assert sorted(G.up.keys(), key=int) == [str(2 ** k) for k in range(3, resolution.bit_length())]


def test_channels_follow_the_multipliers():
    G = Generator(256, z_dim=16, ngf=16)
    assert G.init[0].out_channels == 2 * 16 * 16                               # GLU halves to 256 at 4x4
    assert G.up["64"][1].out_channels == 2 * 2 * 16
    assert G.up["256"][1].out_channels == 2 * 8                                # 0.5 x ngf, doubled for GLU
    assert G.to_rgb.in_channels == 8 and G.to_rgb.out_channels == 3


def test_z_is_normalised_to_unit_second_moment():
    torch.manual_seed(0)
    G = Generator(32, z_dim=16, ngf=8).eval()
    z = torch.randn(3, 16)
    torch.testing.assert_close(G(z), G(5 * z), rtol=1e-5, atol=1e-5)


def test_too_small_ngf_is_a_config_error():
    with pytest.raises(ConfigError, match=r"'model.ngf' = 4: must be >= 8 at resolution 1024"):
        Generator(1024, z_dim=16, ngf=4)


def test_from_config_and_deepcopy_for_ema():
    cfg = load_config(None, {"resolution": 64, "model": {"z_dim": 32, "ngf": 8}})
    G = Generator.from_config(cfg)
    assert (G.resolution, G.z_dim) == (64, 32)
    G_ema = copy.deepcopy(G).eval()
    G.eval()
    z = torch.randn(2, 32)
    torch.testing.assert_close(G_ema(z), G(z))
