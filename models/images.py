"""Decode and validate user images, and serve the bundled sample images.

Everything a person can upload passes through :func:`load_image`: it accepts JPEG, PNG and
WebP only, honours the EXIF orientation, converts every pixel format Pillow can produce from
those (1, L, LA, P/PA with transparency, RGBA, I;16, CMYK, ...) to 8-bit RGB, and rejects
anything else with an :class:`ImageError` whose message can be shown to the person as is.

Sample images come from scikit-image's bundled data, so no network is needed.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_ASPECT",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "SAMPLES",
    "ImageError",
    "load_image",
    "sample_image",
]

ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 25_000_000
# The model resizes the short side to a fixed length; a 1 x 10000 strip would become a
# multi-gigapixel tensor, so extreme shapes are refused before they reach it.
MAX_ASPECT = 8.0
MIN_SIDE = 16

_WHITE = (255, 255, 255)


class ImageError(ValueError):
    """An upload that cannot be used; ``str(err)`` is a message for the person."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between MAX_IMAGE_PIXELS and twice that; our own
            # max_pixels check below is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as err:
        raise ImageError(_too_many_pixels_message(None, max_pixels)) from err
    except UnidentifiedImageError as err:
        raise ImageError(
            "This file is not a JPEG, PNG or WebP image (or it is damaged). "
            "Please upload a .jpg, .png or .webp picture."
        ) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"This image could not be read ({err}).") from err
    return img


def _too_many_pixels_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    dims = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return (
        f"This image is too large{dims}: at most {max_pixels / 1e6:.0f} megapixels are "
        "accepted. Very large images in small files are a known way to exhaust a "
        "server's memory (a 'decompression bomb'); please resize it first."
    )


def _check_geometry(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(_too_many_pixels_message(size, max_pixels))
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"This image is only {width} x {height} pixels; at least {MIN_SIDE} pixels "
            "on each side are needed."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(
            f"This image is {width} x {height} pixels, too long and thin to classify "
            f"(at most {MAX_ASPECT:.0f}:1). Please crop it."
        )


def _sixteen_bit_to_rgb(img: Image.Image) -> Image.Image:
    # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them, which
    # turns most 16-bit photos white; scale the full 0..65535 range down instead.
    wide = np.asarray(img, dtype=np.float64)
    gray = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        return _sixteen_bit_to_rgb(img)
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        # Transparent pixels are black or arbitrary underneath; white is what a viewer shows.
        return _on_white(img)
    # 1, L, P, CMYK, YCbCr, LAB, HSV, F: Pillow's own conversions are correct for these.
    return img.convert("RGB")


def load_image(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode an uploaded image into an upright 8-bit RGB picture.

    Args:
        data: the file's bytes.
        max_bytes: larger files are refused before decoding.
        max_pixels: images with more pixels are refused before decoding (header only).

    Returns:
        A fully loaded ``PIL.Image`` in mode ``"RGB"``, rotated per its EXIF orientation.

    Raises:
        ImageError: empty, oversized, non-image, unsupported format, corrupt or truncated
            data, or a decompression bomb; the message says which.
    """
    if not data:
        raise ImageError("The file is empty (0 bytes). Please choose a picture.")
    if len(data) > max_bytes:
        raise ImageError(
            f"The file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}."
        )
    img = _open(data, max_pixels)
    _check_geometry(img.size, max_pixels)
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
        rgb = _to_rgb(img)
        rgb.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(
            f"This {img.format or 'image'} file is damaged or incomplete and cannot be "
            f"decoded ({err}). Please upload it again or try another picture."
        ) from err
    return rgb


def _skimage(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from skimage import data  # imported lazily: scikit-image is slow to import

        return _to_rgb(Image.fromarray(getattr(data, name)()))

    return load


# Label (short: it appears in shared URLs) -> loader. All ship inside the scikit-image
# wheel, so nothing is downloaded.
SAMPLES: dict[str, Callable[[], Image.Image]] = {
    "cat": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "cameraman": _skimage("camera"),
}


def sample_image(label: str) -> Image.Image:
    """The bundled sample image called ``label`` (a key of :data:`SAMPLES`), as RGB.

    Raises:
        KeyError: for an unknown label.
    """
    return SAMPLES[label]()
