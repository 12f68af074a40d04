"""models.images: every good format converts to upright RGB, every bad input is refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from models.images import (
    MAX_PIXELS,
    SAMPLES,
    ImageError,
    load_image,
    sample_image,
)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, for layouts Pillow cannot save (16-bit RGB) or lies (bombs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float64)
    y = np.linspace(0, 255, height, dtype=np.float64)
    rgb = np.stack(np.broadcast_arrays(x[None, :], y[:, None], 128.0 + 0 * x[None, :]), -1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


# --- good inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    src = gradient()
    out = load_image(encode(src, fmt, quality=95) if fmt != "PNG" else encode(src, fmt))
    assert out.mode == "RGB" and out.size == src.size
    # Lossy formats may shift values a little; the picture must still be the same one.
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(src, np.int16))
    assert diff.mean() < 4


def test_exif_orientation_is_applied() -> None:
    src = Image.new("RGB", (40, 20), (255, 0, 0))
    src.paste((0, 0, 255), (0, 0, 20, 20))  # blue left half, red right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(encode(src, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (20, 40)
    top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert top[2] > 200 and top[0] < 60  # the blue half is now on top
    assert bottom[0] > 200 and bottom[2] < 60


def test_grayscale_becomes_rgb() -> None:
    out = load_image(encode(Image.new("L", (32, 32), 77), "PNG"))
    assert out.mode == "RGB" and out.getpixel((3, 3)) == (77, 77, 77)


def test_one_bit_becomes_rgb() -> None:
    img = Image.new("1", (32, 32), 1)
    assert load_image(encode(img, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_rgba_is_composited_on_white() -> None:
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 16, 32))
    out = load_image(encode(img, "PNG"))
    assert out.getpixel((24, 10)) == (255, 255, 255)  # transparent red shows as white
    assert out.getpixel((4, 10)) == (0, 0, 255)


def test_half_transparent_la_blends_with_white() -> None:
    out = load_image(encode(Image.new("LA", (32, 32), (0, 128)), "PNG"))
    assert all(120 <= c <= 135 for c in out.getpixel((0, 0)))


def test_palette_with_transparency() -> None:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 0, 16, 32))
    out = load_image(encode(img, "PNG", transparency=0))
    assert out.getpixel((4, 4)) == (0, 255, 0)
    assert out.getpixel((24, 4)) == (255, 255, 255)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    levels = np.array([[0, 32768, 65535]], dtype=np.uint16).repeat(16, 0).repeat(16, 1)
    out = load_image(encode(Image.fromarray(levels), "PNG"))
    assert [out.getpixel((x, 0))[0] for x in (0, 16, 32)] == [0, 128, 255]


def test_sixteen_bit_rgb() -> None:
    pixel = struct.pack(">HHH", 65535, 32768, 0)
    rows = b"".join(b"\x00" + pixel * 16 for _ in range(16))
    out = load_image(raw_png(16, 16, 16, 2, rows))
    assert out.mode == "RGB" and out.getpixel((5, 5)) == (255, 128, 0)


def test_cmyk_jpeg() -> None:
    out = load_image(encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95))
    r, g, b = out.getpixel((8, 8))
    assert out.mode == "RGB" and r > 200 and g < 60 and b < 60


# --- bad inputs ----------------------------------------------------------------------------


def rejected(data: bytes, **kw: int) -> str:
    with pytest.raises(ImageError) as info:
        load_image(data, **kw)
    return str(info.value)


def test_zero_bytes() -> None:
    assert "empty" in rejected(b"")


def test_not_an_image() -> None:
    assert "not a JPEG, PNG or WebP" in rejected(b"%PDF-1.7 this is a document, not a picture")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(fmt: str) -> None:
    assert "not a JPEG, PNG or WebP" in rejected(encode(gradient(), fmt))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated(fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    assert rejected(data[: len(data) // 2])


def test_corrupt_body_with_valid_header() -> None:
    data = bytearray(encode(gradient(), "PNG"))
    data[60:] = bytes(len(data) - 60)  # keep the signature and IHDR, zero the pixel data
    assert "damaged" in rejected(bytes(data))


def test_decompression_bomb_refused_from_header() -> None:
    # 12000 x 12000 claimed by a few hundred bytes: refused before any pixel is decoded.
    bomb = raw_png(12_000, 12_000, 1, 0, b"\x00" * 64)
    message = rejected(bomb)
    assert "12000 x 12000" in message and "decompression bomb" in message


def test_pillow_bomb_limit_also_reported() -> None:
    side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) + 10
    message = rejected(raw_png(side, side, 1, 0, b"\x00"), max_pixels=10**12)
    assert "too large" in message


def test_custom_pixel_cap() -> None:
    assert "too large" in rejected(encode(gradient(64, 48), "PNG"), max_pixels=1000)
    assert MAX_PIXELS > 64 * 48


def test_file_size_cap() -> None:
    assert "limit" in rejected(encode(gradient(), "PNG"), max_bytes=100)


def test_tiny_image() -> None:
    assert "at least" in rejected(encode(Image.new("RGB", (4, 4)), "PNG"))


def test_extreme_aspect_ratio() -> None:
    assert "long and thin" in rejected(encode(Image.new("RGB", (2000, 20)), "PNG"))


# --- samples -------------------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(SAMPLES))
def test_samples_are_bundled_rgb(label: str) -> None:
    img = sample_image(label)
    assert img.mode == "RGB" and min(img.size) >= 128


def test_unknown_sample() -> None:
    with pytest.raises(KeyError):
        sample_image("no such picture")
