"""Decode one image file to an RGB square at the training resolution.

Conventions (the same for every source, so a raw folder and its prepared set give equal pixels):
- Only the first frame of animated GIF/WebP and multi-page TIFF is used.
- EXIF orientation is applied before anything else.
- Transparency (LA, RGBA, PA, P or L/RGB with a transparent colour) is composited on WHITE: the
  few-shot sets this project targets (Pokemon, artwork) are drawn on white.
- 16-bit grayscale (I;16*) maps 0..65535 to 0..255. 32-bit integer (I) is read as 8-bit when its
  maximum is <= 255, else as 16-bit. Float (F) is read as 0..1 when its maximum is <= 1, else as
  0..255 (clipped). Grayscale becomes RGB by repeating the channel. CMYK uses Pillow's conversion.
  Embedded ICC profiles are not applied: pixel values are taken as sRGB.
- fit 'crop': the centred square of side min(w, h) is resized to R x R.
  fit 'pad': the image is resized so its long side is R, then centred on a white R x R canvas.
- Resizing is Lanczos (Pillow widens the kernel when downsampling, so it low-passes like an area
  filter). Large JPEGs are first decoded at 1/2 or 1/4 DCT scale, never below twice the size needed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
FITS = ("crop", "pad")
BACKGROUND = (255, 255, 255)

_ALPHA_MODES = frozenset({"LA", "La", "RGBA", "RGBa", "PA"})
_TRANSPARENCY_KEY_MODES = frozenset({"L", "RGB", "P"})  # modes whose `transparency` info names a colour


class ImageDecodeError(Exception):
    """A file with an image extension that cannot be turned into an image; the message is the reason."""


def decode_image(data: bytes, resolution: int, fit: str) -> np.ndarray:
    """Bytes of one image file -> uint8 array [R, R, 3]. Raises ImageDecodeError with a reason."""
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        _draft_for(image, resolution, fit)
        image.load()
        image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ImageDecodeError(f"not a recognised image format ({len(data)} bytes)") from None
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large to decode safely: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on corrupt bytes; each is this file's fault
        raise ImageDecodeError(f"cannot decode ({type(exc).__name__}: {exc})") from None
    try:
        rgb = to_rgb(image)
    except ValueError as exc:
        raise ImageDecodeError(f"unsupported image mode {image.mode!r}: {exc}") from None
    return np.asarray(fit_square(rgb, resolution, fit), dtype=np.uint8)  # [R, R, 3]


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 'RGB' (see the module notes for transparency and high bit depths)."""
    mode = image.mode
    if mode in _TRANSPARENCY_KEY_MODES and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        canvas = Image.new("RGBA", image.size, BACKGROUND + (255,))
        return Image.alpha_composite(canvas, image.convert("RGBA")).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_gray(image).convert("RGB")
    if mode == "RGB":
        return image
    return image.convert("RGB")


def _high_depth_to_gray(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)  # [H, W]
    if image.mode.startswith("I;16"):
        values = values / 257.0
    elif image.mode == "I":
        values = values if values.max(initial=0) <= 255 else np.clip(values, 0, 65535) / 257.0
    elif image.mode == "F":
        values = values * 255.0 if values.max(initial=0) <= 1.0 else values
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)  # [H, W]
    return Image.fromarray(gray)  # uint8 [H, W] -> mode L


def fit_square(image: Image.Image, resolution: int, fit: str) -> Image.Image:
    """RGB image of any size -> RGB resolution x resolution ('crop' or 'pad', Lanczos)."""
    width, height = image.size
    if fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        square = image.crop((left, top, left + side, top + side))  # no resampling taps outside the square
        return square.resize((resolution, resolution), Image.Resampling.LANCZOS)
    if fit == "pad":
        scale = resolution / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new("RGB", (resolution, resolution), BACKGROUND)
        canvas.paste(image.resize(size, Image.Resampling.LANCZOS),
                     ((resolution - size[0]) // 2, (resolution - size[1]) // 2))
        return canvas
    raise ValueError(f"fit {fit!r}: must be one of {', '.join(FITS)}")


def _draft_for(image: Image.Image, resolution: int, fit: str) -> None:
    """Let JPEG decode at 1/2 or 1/4 scale while the side used stays >= 2 x resolution (1/8 scale is
    DC-only decoding, which visibly aliases)."""
    if image.format != "JPEG":
        return
    width, height = image.size
    used_side = min(width, height) if fit == "crop" else max(width, height)
    scale = max(2 * resolution / used_side, 0.25)
    if scale <= 0.5:
        image.draft(image.mode, (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
