"""Downloads: figures as PNG, numbers as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dropcore.probe import DropRow, TopKEntry

from .regularizer import Regularizer

__all__ = [
    "Download",
    "csv_bytes",
    "download_menu",
    "download_row",
    "drop_records",
    "json_bytes",
    "settings_record",
    "topk_records",
]


def csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows of one shape as CSV (header from the first row's keys)."""
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """Pretty JSON (tuples become lists)."""
    return json.dumps(data, indent=2, default=list).encode()


def settings_record(reg: Regularizer, image: str) -> dict[str, Any]:
    """Everything needed to reproduce a result (besides an uploaded image's pixels)."""
    record: dict[str, Any] = {
        "image": image,
        "seed": reg.seed,
        "keep_prob": reg.keep_prob,
        "settings": asdict(reg.settings),
    }
    if reg.schedule is not None:
        record["schedule"] = {**asdict(reg.schedule), "step": reg.step}
    return record


def topk_records(entries: Sequence[TopKEntry]) -> list[dict[str, Any]]:
    """Top-k table rows: rank, class, probabilities and change."""
    return [
        {
            "rank": i + 1,
            "class": e.name,
            "index": e.index,
            "probability": e.prob,
            "std_over_draws": e.prob_std,
            "baseline_probability": e.baseline_prob,
            "change": e.delta,
            "baseline_rank": e.baseline_rank + 1,
        }
        for i, e in enumerate(entries)
    ]


def drop_records(rows: Sequence[DropRow]) -> list[dict[str, Any]]:
    """Per-site drop-rate rows."""
    return [asdict(r) for r in rows]


@dataclass(frozen=True)
class Download:
    """One file offered for download.

    ``data`` may be a function returning the bytes: it then runs only when the button is
    clicked (Streamlit calls it on another thread), so encoding a PNG costs nothing on the
    reruns where nobody downloads.
    """

    label: str
    data: bytes | Callable[[], bytes]
    file_name: str
    mime: str


_ICONS = {
    "image/png": ":material/image:",
    "text/csv": ":material/table:",
    "application/json": ":material/data_object:",
}


def _buttons(
    files: Sequence[Download], where: DeltaGenerator, width: Literal["content", "stretch"]
) -> None:
    for f in files:
        where.download_button(
            f.label,
            f.data,
            file_name=f.file_name,
            mime=f.mime,
            on_click="ignore",
            icon=_ICONS.get(f.mime, ":material/download:"),
            key=f"dl_{f.file_name}",
            width=width,
        )


def download_row(files: Sequence[Download], where: DeltaGenerator | None = None) -> None:
    """Download buttons side by side; clicking one does not rerun the page."""
    _buttons(files, (where or st).container(horizontal=True, gap="small"), "content")


def download_menu(
    files: Sequence[Download], label: str = "Download", where: DeltaGenerator | None = None
) -> None:
    """Download buttons in a menu that opens on click; clicking one does not rerun.

    For a page that reruns on every slider step: the browser draws the buttons only
    when the menu is open, not on every change.
    """
    menu = (where or st).popover(label, icon=":material/download:")
    _buttons(files, menu, "stretch")
