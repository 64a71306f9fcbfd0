"""builtin:digits: scikit-learn's 1,797 real 8x8 digits, white on black, resized, RGB uint8."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from empgan.data import load_image_set
from empgan.errors import UserError


def test_digits_at_native_size_are_the_scaled_gray_levels():
    image_set = load_image_set("builtin:digits", 8)
    assert len(image_set) == 1797
    assert tuple(image_set.images.shape) == (1797, 3, 8, 8) and image_set.images.dtype == torch.uint8
    expected = (torch.from_numpy(load_digits().images).float() * 255 / 16).round().to(torch.uint8)  # [1797, 8, 8]
    for channel in range(3):
        assert torch.equal(image_set.images[:, channel], expected)
    assert (image_set.source, image_set.resolution, image_set.skipped) == ("builtin:digits", 8, [])


def test_digits_upscaled_to_32():
    image_set = load_image_set("builtin:digits", 32)
    images = image_set.images  # [1797, 3, 32, 32]
    assert tuple(images.shape) == (1797, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert images[:, :, 0, 0].max() <= 3  # black background (white digits, not inverted); bicubic leaks <= 3
    assert images.amax(dim=(1, 2, 3)).min() >= 200  # a bright stroke in every digit
    assert image_set.content_hash == load_image_set("builtin:digits", 32).content_hash
    assert image_set.content_hash != load_image_set("builtin:digits", 16).content_hash


def test_unknown_builtin_lists_the_available_ones():
    with pytest.raises(UserError, match="data 'builtin:mnist': unknown builtin set 'mnist'; available: builtin:digits"):
        load_image_set("builtin:mnist", 32)
