"""Pictures the browser enlarges: tile sheets, inline PNGs and the HTML around them."""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from pages.ui import render
from pages.ui.pixel_html import crisp_figure, data_uri, figure_row, labelled_rows, photo_figure


def _png(size: tuple[int, int] = (3, 2), color: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    return render.png_bytes(Image.new("RGB", size, color))


def _decoded(uri: str, mime: str = "image/png") -> Image.Image:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix) :])))


def test_data_uri_holds_the_picture_and_rejects_anything_else() -> None:
    img = _decoded(data_uri(_png((5, 4), (9, 8, 7))))
    assert img.size == (5, 4) and img.convert("RGB").getpixel((4, 3)) == (9, 8, 7)
    jpeg = _decoded(
        data_uri(render.jpeg_bytes(Image.new("RGB", (6, 4), (200, 10, 10)))), "image/jpeg"
    )
    assert jpeg.format == "JPEG" and jpeg.size == (6, 4)
    with pytest.raises(ValueError, match="expected PNG or JPEG bytes, got bytes"):
        data_uri(b"GIF89a" + bytes(20))
    with pytest.raises(ValueError, match="got str"):
        data_uri("not bytes")  # type: ignore[arg-type]


def test_a_figure_is_crisp_escaped_and_captioned() -> None:
    caption = 'mask of <b>channel</b> "7"'
    out = crisp_figure(_png(), caption)
    assert "image-rendering:pixelated" in out and data_uri(_png()) in out
    assert html.escape(caption) in out and "<b>" not in out
    row = figure_row([out, out, out])
    assert "repeat(3, minmax(0, 1fr))" in row and row.count("<figure") == 3
    with pytest.raises(ValueError, match="at least one figure"):
        figure_row([])


def test_a_photo_is_scaled_smoothly_and_captioned() -> None:
    jpeg = render.jpeg_bytes(Image.new("RGB", (8, 8), (1, 2, 3)))
    out = photo_figure(jpeg, "Baseline: <tabby> (41%)")
    assert data_uri(jpeg) in out and "pixelated" not in out
    assert "Baseline: &lt;tabby&gt; (41%)</figcaption>" in out
    assert 'alt="Baseline: &lt;tabby&gt; (41%)"' in out


def test_labelled_rows_put_a_label_beside_each_row() -> None:
    out = labelled_rows(
        [("before", _png()), ("mask", _png((6, 2))), ("<after>", _png())],
        "caption & more",
        width_px=300,
    )
    names = re.findall(r'align-self:center">([^<]*)</div>', out)
    assert names == ["before", "mask", "&lt;after&gt;"]
    assert out.count("<img") == 3 and data_uri(_png((6, 2))) in out
    assert "minmax(0, 300px)" in out and "caption &amp; more" in out
    with pytest.raises(ValueError, match="at least one"):
        labelled_rows([], "c", width_px=10)
    with pytest.raises(ValueError, match="width_px must be positive, got 0"):
        labelled_rows([("a", _png())], "c", width_px=0)


def test_tile_strip_round_trips_its_tiles_with_transparent_gaps() -> None:
    rng = np.random.default_rng(0)
    tiles = [
        Image.fromarray(rng.integers(0, 255, (3, 4, 3), dtype=np.uint8), "RGB") for _ in range(5)
    ]
    strip = render.tile_strip(tiles)
    assert strip.mode == "RGBA" and strip.size == (1 + 5 * 5, 1 + 3 + 1)
    assert strip.getpixel((0, 0))[3] == 0 and strip.getpixel((5, 2))[3] == 0  # the gaps
    back = render.strip_tiles(Image.open(io.BytesIO(render.png_bytes(strip))), (4, 3))
    assert [np.array(t).tolist() for t in back] == [np.array(t).tolist() for t in tiles]
    with pytest.raises(ValueError, match="at least one tile"):
        render.tile_strip([])
    with pytest.raises(ValueError, match=r"must all be 4 x 3, got \[\(2, 2\), \(4, 3\)\]"):
        render.tile_strip([tiles[0], Image.new("RGB", (2, 2))])


def test_tiles_at_one_pixel_per_cell_and_enlarged() -> None:
    mask = torch.tensor([[True, False, True]])
    assert render.mask_tile(mask, size=None).size == (3, 1)
    assert render.upscale(render.mask_tile(mask, size=None), 100).size == (99, 33)
    assert render.activation_tile(torch.rand(4, 6), 1.0, size=None).size == (6, 4)
