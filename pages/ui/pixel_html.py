"""Pictures drawn by the browser from inline data: cells scaled up crisply, and photos.

A mask or an activation map of a site is a few dozen cells across (14 x 14 at ResNet-50's
``layer3``). Enlarging it on the server to 224 pixels and encoding that, for every probe,
cost more CPU than anything else the Playground does outside the pass (four PNGs, ~9 ms
a probe); the PNG of the cells alone is a few hundred bytes. So pictures of cells leave
here as they are, inline in static HTML (no file for the browser to fetch afterwards),
and CSS ``image-rendering: pixelated`` makes the browser enlarge them with nearest
neighbours: every cell stays a crisp square, as before.

The Playground's three photos (the input and two Grad-CAM overlays, JPEG) go the same way:
as one piece of HTML instead of three image elements in three columns, each an element
message for the server to send and the page to lay out, and a file to fetch.

Built once per probe as a string (see :mod:`.playground_view`), like :mod:`.tables`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

__all__ = [
    "caption_html",
    "crisp_figure",
    "data_uri",
    "figure_row",
    "labelled_rows",
    "photo_figure",
]

# What each picture format's bytes start with, and its MIME type.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
# Streamlit's caption look on both themes: the theme's own text colour, muted.
_CAPTION_STYLE = "font-size:0.875rem;opacity:0.6;line-height:1.4;margin-top:0.25rem"
_PIXELATED = "image-rendering:pixelated;display:block"
_BOX_WIDE = "width:100%;height:auto"  # as wide as its box, the aspect kept


def data_uri(picture: bytes) -> str:
    """``picture`` (PNG or JPEG bytes) as a ``data:`` URI.

    Raises:
        ValueError: ``picture`` is neither PNG nor JPEG data.
    """
    if isinstance(picture, bytes):
        for signature, mime in _SIGNATURES:
            if picture.startswith(signature):
                return f"data:{mime};base64," + base64.b64encode(picture).decode("ascii")
    start = picture[:8] if isinstance(picture, bytes) else picture
    raise ValueError(f"expected PNG or JPEG bytes, got {type(picture).__name__} {start!r:.40}")


def caption_html(text: str) -> str:
    """``text`` (escaped) as a caption in Streamlit's caption look, on both themes."""
    return f'<div style="{_CAPTION_STYLE}">{html.escape(text)}</div>'


def _img(picture: bytes, alt: str, style: str) -> str:
    return (
        f'<img src="{data_uri(picture)}" alt="{html.escape(alt)}" '
        f'title="{html.escape(alt)}" style="{style}">'
    )


def _figure(picture: bytes, caption: str, style: str) -> str:
    return (
        f'<figure style="margin:0">{_img(picture, caption, style)}'
        f'<figcaption style="{_CAPTION_STYLE}">{html.escape(caption)}</figcaption>'
        "</figure>"
    )


def crisp_figure(png: bytes, caption: str) -> str:
    """One picture of cells as wide as its box, every cell a sharp square, with
    ``caption`` under it (also its alt text)."""
    return _figure(png, caption, f"{_PIXELATED};{_BOX_WIDE}")


def photo_figure(picture: bytes, caption: str) -> str:
    """A photo (PNG or JPEG) as wide as its box, smoothly scaled, with ``caption`` under
    it (also its alt text)."""
    return _figure(picture, caption, f"display:block;{_BOX_WIDE}")


def figure_row(figures: Sequence[str]) -> str:
    """``figures`` (from :func:`crisp_figure` or :func:`photo_figure`) side by side in
    equal columns.

    Raises:
        ValueError: no figures.
    """
    if not figures:
        raise ValueError("figure_row needs at least one figure")
    columns = f"repeat({len(figures)}, minmax(0, 1fr))"
    return (
        f'<div style="display:grid;grid-template-columns:{columns};gap:1rem">'
        f"{''.join(figures)}</div>"
    )


def labelled_rows(rows: Sequence[tuple[str, bytes]], caption: str, *, width_px: int) -> str:
    """Rows of pictures (PNG bytes, e.g. a strip of tiles from :func:`.render.tile_strip`),
    each ``width_px`` CSS pixels wide (less on a narrow screen) with its label beside it,
    and ``caption`` below.

    Raises:
        ValueError: no rows, or a non-positive ``width_px``.
    """
    if not rows:
        raise ValueError("labelled_rows needs at least one (label, picture) row")
    if width_px <= 0:
        raise ValueError(f"width_px must be positive, got {width_px}")
    cells = "".join(
        f'<div style="align-self:center">{html.escape(label)}</div>'
        f"{_img(png, f'{label}: {caption}', f'{_PIXELATED};{_BOX_WIDE}')}"
        for label, png in rows
    )
    return (
        f'<div style="display:grid;grid-template-columns:auto minmax(0, {width_px}px);'
        f'justify-content:start;gap:4px 0.5rem;font-size:0.875rem">{cells}</div>'
        f"{caption_html(caption)}"
    )
