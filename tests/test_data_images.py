"""Every image mode, size and orientation comes out RGB R x R with the documented pixel values."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from empgan.data import load_image_set
from empgan.data.images import decode_image, fit_square

R = 16
WHITE, RED, GREEN, BLUE = (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)


def load_one(tmp_path, image: Image.Image, name: str = "img.png", resolution: int = R, **save_args) -> torch.Tensor:
    """Save `image` alone in a folder, load the folder, return its single image [3, R, R]."""
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    image.save(folder / name, **save_args)
    image_set = load_image_set(str(folder), resolution)
    assert len(image_set) == 1 and image_set.skipped == []
    assert image_set.images.dtype == torch.uint8
    assert tuple(image_set.images.shape) == (1, 3, resolution, resolution)
    return image_set.images[0]


def solid(image: torch.Tensor) -> tuple[int, int, int]:
    """The colour of an image [3, R, R] that must be one colour everywhere."""
    colour = image[:, 0, 0]
    assert torch.equal(image, colour[:, None, None].expand_as(image)), "image is not a single colour"
    return tuple(int(c) for c in colour)


def test_grayscale_L_repeats_the_channel(tmp_path):
    assert solid(load_one(tmp_path, Image.new("L", (10, 7), 77))) == (77, 77, 77)


def test_one_bit_image(tmp_path):
    assert solid(load_one(tmp_path, Image.new("1", (9, 9), 1))) == WHITE


@pytest.mark.parametrize("alpha, expected", [(0, WHITE), (255, (90, 90, 90))])
def test_LA_composited_on_white(tmp_path, alpha, expected):
    assert solid(load_one(tmp_path, Image.new("LA", (12, 12), (90, alpha)))) == expected


@pytest.mark.parametrize("rgba, expected", [((255, 0, 0, 0), WHITE), ((0, 0, 255, 255), BLUE),
                                            ((0, 0, 0, 51), (204, 204, 204))])
def test_RGBA_composited_on_white(tmp_path, rgba, expected):
    assert solid(load_one(tmp_path, Image.new("RGBA", (12, 12), rgba))) == expected


def palette_image(index: int) -> Image.Image:
    image = Image.new("P", (R, R), index)
    image.putpalette([200, 30, 40, 10, 220, 90] + [0, 0, 0] * 254)  # 0: red-ish, 1: green-ish
    return image


def test_palette_image(tmp_path):
    assert solid(load_one(tmp_path, palette_image(1))) == (10, 220, 90)


@pytest.mark.parametrize("name", ["img.png", "img.gif"])
def test_palette_with_transparency(tmp_path, name):
    half = palette_image(0)
    half.paste(1, (0, 0, R, R // 2))  # top half: index 1, the transparent one
    image = load_one(tmp_path, half, name=name, transparency=1)  # same size: no resampling
    assert solid(image[:, : R // 2]) == WHITE
    assert solid(image[:, R // 2:]) == (200, 30, 40)


def test_cmyk_tiff_exact(tmp_path):
    assert solid(load_one(tmp_path, Image.new("CMYK", (12, 12), (0, 255, 255, 0)), name="img.tif")) == RED


def test_cmyk_jpeg(tmp_path):
    image = load_one(tmp_path, Image.new("CMYK", (24, 24), (0, 255, 255, 0)), name="img.jpg", quality=95)
    assert (image.int() - torch.tensor(RED)[:, None, None]).abs().max() <= 3


@pytest.mark.parametrize("value, expected", [(128 * 257, 128), (65535, 255), (1000, 4)])
def test_16_bit_grayscale_png(tmp_path, value, expected):
    image = Image.fromarray(np.full((10, 10), value, np.uint16))
    assert image.mode == "I;16"
    assert solid(load_one(tmp_path, image)) == (expected,) * 3


@pytest.mark.parametrize("value, expected", [(200, 200), (1000, 4), (70000, 255)])
def test_32_bit_integer_tiff(tmp_path, value, expected):
    image = Image.fromarray(np.full((10, 10), value, np.int32))
    assert image.mode == "I"
    assert solid(load_one(tmp_path, image, name="img.tiff")) == (expected,) * 3


@pytest.mark.parametrize("value, expected", [(0.25, 64), (1.0, 255), (100.0, 100), (300.0, 255)])
def test_float_tiff(tmp_path, value, expected):
    image = Image.fromarray(np.full((10, 10), value, np.float32))
    assert image.mode == "F"
    assert solid(load_one(tmp_path, image, name="img.tif")) == (expected,) * 3


def test_bmp_and_webp(tmp_path):
    assert solid(load_one(tmp_path, Image.new("RGB", (10, 10), GREEN), name="img.bmp")) == GREEN
    (tmp_path / "webp").mkdir()
    lossless = load_one(tmp_path / "webp", Image.new("RGB", (10, 10), BLUE), name="img.webp", lossless=True)
    assert solid(lossless) == BLUE


def test_tiny_3x5_image_crop_keeps_the_centre_rows(tmp_path):
    image = Image.new("RGB", (3, 5), RED)
    image.paste(GREEN, (0, 1, 3, 4))  # rows 1..3: the centred 3x3 square
    assert solid(load_one(tmp_path, image)) == GREEN


def test_tiny_3x5_image_pad_puts_white_on_the_sides():
    image = Image.new("RGB", (3, 5), GREEN)
    padded = np.asarray(fit_square(image, R, "pad"))  # [R, R, 3]; content 10 wide (3 * 16 / 5), at x = 3
    assert (padded[:, :3] == WHITE).all() and (padded[:, 13:] == WHITE).all()
    assert (padded[:, 4:12] == GREEN).all()


def test_very_wide_image_crop_is_the_centre(tmp_path):
    image = Image.new("RGB", (300, 10), RED)
    image.paste(BLUE, (155, 0, 300, 10))
    image.paste(GREEN, (145, 0, 155, 10))  # the centred 10x10 square
    assert solid(load_one(tmp_path, image)) == GREEN


def test_very_wide_image_pad_is_a_band_in_the_middle():
    padded = np.asarray(fit_square(Image.new("RGB", (400, 20), RED), R, "pad"))  # content 16 x 1, at y = 7
    assert (padded[7] == RED).all()
    assert (np.delete(padded, 7, axis=0) == WHITE).all()


def test_exif_orientation_is_applied(tmp_path):
    stored = Image.new("RGB", (64, 32), RED)
    stored.paste(BLUE, (32, 0, 64, 32))  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise: red on top, blue below (32 x 64)
    image = load_one(tmp_path, stored, name="img.jpg", exif=exif.tobytes(), quality=95).int()  # [3, R, R]
    red, blue = torch.tensor(RED)[:, None, None], torch.tensor(BLUE)[:, None, None]
    assert (image[:, : R // 2 - 2] - red).abs().max() <= 8      # top rows red
    assert (image[:, R // 2 + 2:] - blue).abs().max() <= 8      # bottom rows blue


def test_large_jpeg_reduced_decoding_matches_full_decoding():
    rng = np.random.default_rng(0)
    pattern = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), 100, 0), 100, 1)  # [600, 800, 3]
    buffer = io.BytesIO()
    Image.fromarray(pattern).save(buffer, format="JPEG", quality=95)
    for fit in ("crop", "pad"):
        fast = decode_image(buffer.getvalue(), R, fit).astype(int)  # [R, R, 3], decoded at 1/4 scale
        full = np.asarray(fit_square(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), R, fit)).astype(int)
        assert np.abs(fast - full).mean() < 1.0, fit
