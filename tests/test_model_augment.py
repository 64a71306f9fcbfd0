"""The multi-view augmentation: ADA 'bgc' pipeline, DiffAugment, views and resizing."""

import math

import pytest
import torch

from empgan.errors import ConfigError
from empgan.model.ada_augment import AdaAugment, apply_colour, luma_axis, rotate2d, scale2d, translate2d, warp
from empgan.model.diffaugment import cutout, diff_augment, parse_policy, translation
from empgan.model.views import ViewAugment


def images(n=2, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- ADA pipeline ------------------------------------------------------------------------------

def test_prob_zero_is_identity():
    x = images()
    assert AdaAugment(0.0)(x) is x
    views = ViewAugment(patch_num=3, ada_probability=0.0, diffaugment="", resolution=16, feature_resize=0)(x)
    assert views.shape == (6, 3, 16, 16)
    torch.testing.assert_close(views, x.repeat(3, 1, 1, 1), rtol=0, atol=0)


def test_ops_that_never_fire_leave_images_unchanged():
    x = images()
    torch.testing.assert_close(AdaAugment(1e-12)(x), x, rtol=0, atol=1e-5)


def test_warp_conventions_are_exact_for_pixel_aligned_transforms():
    x = images(n=1)
    one = torch.ones(1)
    torch.testing.assert_close(warp(x, scale2d(-one, one)), x.flip(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(warp(x, rotate2d(one * math.pi / 2)), torch.rot90(x, k=1, dims=(2, 3)),
                               rtol=0, atol=1e-5)
    # Output pixel (i, j) reads input pixel (i, j - 3): content moves 3 px right (reflected at the border).
    shifted = warp(x, translate2d(-3 * one, 0 * one))
    torch.testing.assert_close(shifted[..., 3:], x[..., :-3], rtol=0, atol=1e-5)
    torch.testing.assert_close(shifted[..., :3], x[..., :3].flip(3), rtol=0, atol=1e-5)


def test_luma_flip_negates_grey_and_keeps_chroma():
    v = luma_axis(torch.device("cpu"))
    householder = (torch.eye(4) - 2 * torch.outer(v, v))[None]                # [1, 4, 4]
    grey = torch.full((1, 3, 2, 2), 0.25)
    torch.testing.assert_close(apply_colour(grey, householder), -grey)
    chroma = torch.tensor([1.0, -1.0, 0.0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)  # orthogonal to luma
    torch.testing.assert_close(apply_colour(chroma.contiguous(), householder), chroma.contiguous())


def test_colour_matrices_keep_grey_on_the_grey_axis_when_only_hue_and_saturation_fire():
    torch.manual_seed(0)
    ada = AdaAugment(1.0)
    c = ada.colour(64, torch.device("cpu"))                                    # [64, 4, 4]
    grey = torch.tensor([0.3, 0.3, 0.3, 1.0])
    out = c @ grey                                                             # [64, 4]
    # Brightness, contrast and luma flip move grey along the grey axis; hue and saturation keep it there.
    torch.testing.assert_close(out[:, 0], out[:, 1], rtol=0, atol=1e-5)
    torch.testing.assert_close(out[:, 1], out[:, 2], rtol=0, atol=1e-5)
    assert out[:, 0].std() > 0.1


def test_views_of_one_image_differ_when_prob_is_positive():
    torch.manual_seed(0)
    x = images(n=1, size=32)
    views = ViewAugment(patch_num=4, ada_probability=0.6, diffaugment="", resolution=32, feature_resize=0)(x)
    assert views.shape == (4, 3, 32, 32)
    for a in range(4):
        for b in range(a + 1, 4):
            assert (views[a] - views[b]).abs().max() > 1e-2


def test_same_seed_same_views_other_seed_other_views():
    x = images(size=32)
    augment = ViewAugment(patch_num=4, ada_probability=0.4, diffaugment="color,translation,cutout",
                          resolution=32, feature_resize=0)
    torch.manual_seed(123)
    first = augment(x)
    torch.manual_seed(123)
    second = augment(x)
    torch.manual_seed(124)
    third = augment(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert (first - third).abs().max() > 1e-2


def test_gradients_flow_to_the_input():
    torch.manual_seed(0)
    x = images(size=32).requires_grad_()
    views = ViewAugment(patch_num=3, ada_probability=1.0, diffaugment="color,translation,cutout",
                        resolution=32, feature_resize=64)(x)
    assert views.shape == (6, 3, 64, 64)
    (views * torch.randn_like(views)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad.abs().flatten(1).sum(1) > 0).all()                          # every image gets gradient


def test_every_op_fires_at_the_configured_rate():
    torch.manual_seed(0)
    n, p = 20000, 0.3
    g_inv = AdaAugment(p).geometry(n, 16, 16, torch.device("cpu"))            # [N, 3, 3]
    identity = torch.eye(3).expand(n, 3, 3)
    untouched = ((g_inv - identity).abs().amax(dim=(1, 2)) < 1e-6).float().mean()
    # 8 geometric ops; x-flip, 90-degree turns and integer shifts may fire as identity (i = 0, round(t) = 0).
    p_flip_moves, p_turn_moves = p / 2, p * 3 / 4
    p_shift_moves = p * (1 - (1 / (2 * 0.125 * 16)) ** 2)                      # |t * 16| < 0.5 on both axes
    expected = (1 - p_flip_moves) * (1 - p_turn_moves) * (1 - p_shift_moves) * (1 - p) ** 4
    assert abs(untouched.item() - expected) < 0.01


# ---- DiffAugment -------------------------------------------------------------------------------

def test_parse_policy():
    assert parse_policy("color, translation,cutout") == ("color", "translation", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ConfigError, match=r"'augment.diffaugment' = 'color,blur': unknown policy blur"):
        parse_policy("color,blur")


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x [H, W] with out[i, j] = x[i + dy, j + dx], zero outside."""
    h, w = x.shape
    out = torch.zeros_like(x)
    out[max(0, -dy):min(h, h - dy), max(0, -dx):min(w, w - dx)] = x[max(0, dy):min(h, h + dy), max(0, dx):min(w, w + dx)]
    return out


def test_translation_shifts_by_whole_pixels_with_zero_fill():
    torch.manual_seed(0)
    x = torch.arange(1, 65, dtype=torch.float32).reshape(1, 1, 8, 8).repeat(64, 1, 1, 1)  # [64, 1, 8, 8]
    out = translation(x)                                                       # shifts up to 1/8 of 8 px
    candidates = {(dy, dx): shifted(x[0, 0], dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    seen = set()
    for sample in out[:, 0]:
        matches = [shift for shift, expected in candidates.items() if torch.equal(sample, expected)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 9                                                      # all shifts occur in 64 draws


def test_cutout_zeroes_at_most_one_square_of_one_fifth():
    torch.manual_seed(0)
    out = cutout(torch.ones(64, 3, 20, 20))
    zeros = (out[:, 0] == 0).flatten(1).sum(1)                                 # [64]
    assert (zeros > 0).all() and (zeros <= 16).all()                           # 4 x 4 px square, maybe clipped
    assert (zeros == 16).float().mean() > 0.5
    assert torch.equal(out[:, 0], out[:, 2])                                   # one mask for all channels


def test_diff_augment_color_keeps_shape_and_changes_values():
    torch.manual_seed(0)
    x = images(n=4)
    out = diff_augment(x, ("color",))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out - x).abs().flatten(1).amax(1).min() > 1e-3
