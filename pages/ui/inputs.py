"""Choosing the picture: a bundled sample (in the link) or an upload (validated, never in it)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from PIL import Image
from streamlit.runtime.uploaded_file_manager import UploadedFile

from models.images import MAX_BYTES, ImageError, load_image, sample_image

from . import catalog as c
from .controls import Panel
from .picker import fashion_sample, pick_net

__all__ = ["Picture", "choose_image"]

# The model resizes the short side to ~232 px; keeping uploads at 512 px bounds what a
# session holds in memory without changing what the model sees noticeably.
_KEEP_SHORT_SIDE = 512
_UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]


@dataclass(frozen=True)
class Picture:
    """The chosen picture (RGB), how to name it, and a key that identifies its pixels
    (``sample:<name>`` or ``upload:<file id>``) for caches."""

    image: Image.Image
    name: str
    uploaded: bool
    key: str


@st.cache_resource(max_entries=16, show_spinner=False)
def _sample(name: str) -> Image.Image:
    # Decoded once per process and shared: nothing in DropLab draws on a picture in place.
    return sample_image(name)


def _sample_picture(name: str) -> Picture:
    return Picture(_sample(name), name, uploaded=False, key=f"sample:{name}")


def _shrink(img: Image.Image) -> Image.Image:
    short = min(img.size)
    if short <= _KEEP_SHORT_SIDE:
        return img
    scale = _KEEP_SHORT_SIDE / short
    size = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _decoded_upload(upload: UploadedFile) -> Image.Image:
    """Decode once per file: reruns reuse the session's copy instead of decoding again."""
    cached = st.session_state.get("_upload_cache")
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    image = _shrink(load_image(upload.getvalue(), max_bytes=MAX_BYTES))
    st.session_state["_upload_cache"] = (upload.file_id, image)
    return image


def choose_image(panel: Panel) -> Picture:
    """Network picker, sample picker and uploader; a bad upload is reported and the sample
    is used. A trained network (see :mod:`.picker`) gets Fashion-MNIST pictures."""
    if panel.shows("image"):
        panel.area.subheader("Image")
    if pick_net(panel) is not None:  # a trained Fashion-MNIST network: its own pictures
        name, image = fashion_sample(panel)
        return Picture(image, name, uploaded=False, key=f"fashion:{name}")
    label = panel(c.IMAGE)
    if "image" in panel.locked:
        return _sample_picture(label)
    upload = panel.area.file_uploader(
        "Or upload a picture",
        type=_UPLOAD_TYPES,
        key="upload",
        max_upload_size=MAX_BYTES // (1024 * 1024),
        help=f"JPEG, PNG or WebP up to {MAX_BYTES // (1024 * 1024)} MB. It stays in this "
        "browser session: shared links carry the sample image and settings, not uploads.",
    )
    if upload is None:
        return _sample_picture(label)
    try:
        return Picture(
            _decoded_upload(upload), upload.name, uploaded=True, key=f"upload:{upload.file_id}"
        )
    except ImageError as err:
        panel.notices.error(
            f"**{upload.name}** cannot be used: {err} Showing the sample '{label}' instead.",
            icon=":material/broken_image:",
        )
        return _sample_picture(label)
