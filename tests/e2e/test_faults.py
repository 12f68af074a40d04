"""Faults a public demo meets, each on a real server, seen from a real Chromium.

Every fault must end in a clear message or a clean fallback for the person who caused it,
and the server must keep serving everyone else. Nothing here asserts a timing; every wait
is bounded. The supersede check speaks Streamlit's websocket protocol (bench/load_test.py)
because only the protocol says whether a run was interrupted or finished.
"""

from __future__ import annotations

import io
import os
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load_test import Session, widget_state

from .conftest import start_server, stop_server

pytestmark = pytest.mark.e2e

SETTLE_MS = 150_000
EXCEPTION = '[data-testid="stException"]'
# The Playground's status line ends with this once a probe has run.
FINGERPRINT = "masks fingerprint"


def settle(page: object, timeout: int = SETTLE_MS) -> None:
    """Wait until the app's script has run and stopped (Streamlit's own state flag)."""
    page.wait_for_selector(  # type: ignore[attr-defined]
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )


def open_page(page: object, url: str) -> None:
    """Go to ``url`` and wait for the run it starts to finish."""
    page.goto(url)  # type: ignore[attr-defined]
    settle(page)


def healthy(base_url: str) -> bool:
    """The health endpoint answers 200 "ok"."""
    with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=5) as resp:
        return resp.status == 200 and resp.read().strip() == b"ok"


def alerts(page: object) -> str:
    """Text of every alert box (error, warning, info) on the page."""
    return "\n".join(
        page.locator('[data-testid="stAlertContainer"]').all_inner_texts()  # type: ignore[attr-defined]
    )


def assert_playground_serves(browser: object, base_url: str) -> None:
    """A fresh visitor gets a complete Playground: a probe ran, nothing crashed."""
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        open_page(page, f"{base_url}/?seed=4242")
        assert page.locator(EXCEPTION).count() == 0
        assert page.get_by_text(FINGERPRINT).count() > 0
        assert page.get_by_text("seed 4242").count() > 0
    finally:
        context.close()
    assert healthy(base_url)


# ------------------------------------------------------------------ links with bad values


def test_extreme_link_values_are_named_and_replaced(page: object, streamlit_server: str) -> None:
    """Out-of-range, NaN, infinite and huge values in the URL: one warning names each,
    defaults are used, and the probe still runs."""
    bad = "keep=nan&block=100000&seed=-7&method=bogus&stages=layer9"
    open_page(page, f"{streamlit_server}/?{bad}")
    text = alerts(page)
    for fragment in ("keep=nan", "block=100000", "seed=-7", "method=bogus", "layer9"):
        assert fragment in text, text
    assert page.locator(EXCEPTION).count() == 0  # type: ignore[attr-defined]
    assert page.get_by_text(FINGERPRINT).count() > 0  # type: ignore[attr-defined]

    open_page(page, f"{streamlit_server}/?keep=1e999&block=0&seed=99999999999999999999")
    text = alerts(page)
    for fragment in ("keep=1e999", "block=0", "seed=99999999999999999999"):
        assert fragment in text, text
    assert page.locator(EXCEPTION).count() == 0  # type: ignore[attr-defined]


def test_huge_monte_carlo_link_is_capped(page: object, streamlit_server: str) -> None:
    """draws=1000000 must not start a million passes: it is refused with a message."""
    open_page(page, f"{streamlit_server}/uncertainty?draws=1000000&seed=3")
    assert "draws=1000000" in alerts(page)
    assert page.locator(EXCEPTION).count() == 0  # type: ignore[attr-defined]
    assert page.get_by_text("1000000 draws").count() == 0  # type: ignore[attr-defined]


# ------------------------------------------------------------------ bad uploads


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def real_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


BAD_UPLOADS: list[tuple[str, bytes, str]] = [
    ("notes.png", b"this is a text file, not a picture\n" * 20, "not a JPEG, PNG or WebP"),
    ("empty.jpg", b"", "empty.jpg"),
    ("cut.png", real_png(64, 64)[:60], "cut.png"),
    ("bomb.png", png_header_only(40_000, 40_000), "too large"),
    ("strip.png", real_png(4000, 20), "strip.png"),
]


def test_bad_upload_storm(page: object, streamlit_server: str, browser: object) -> None:
    """Bad files uploaded in quick succession: each gets a message naming it, the sample
    image stands in, nothing crashes, and another visitor is served meanwhile."""
    open_page(page, f"{streamlit_server}/?seed=11")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')  # type: ignore[attr-defined]
    # The storm: replace the file before the previous run has finished.
    for name, data, _ in BAD_UPLOADS:
        uploader.set_input_files({"name": name, "mimeType": "image/png", "buffer": data})
    settle(page)
    assert page.locator(EXCEPTION).count() == 0  # type: ignore[attr-defined]
    assert page.get_by_text(FINGERPRINT).count() > 0  # type: ignore[attr-defined]
    # Then each one on its own, in a fresh session: under load Streamlit's uploader can
    # keep two files from a storm (its replace-on-drop runs before it sees the previous
    # drop), and it would then hand the script the older one from then on.
    open_page(page, f"{streamlit_server}/?seed=11")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')  # type: ignore[attr-defined]
    for name, data, expected in BAD_UPLOADS:
        uploader.set_input_files({"name": name, "mimeType": "image/png", "buffer": data})
        page.locator(  # type: ignore[attr-defined]
            '[data-testid="stAlertContainer"]', has_text=name
        ).first.wait_for(timeout=SETTLE_MS)
        settle(page)
        text = alerts(page)
        assert name in text and expected in text, (name, text)
        assert "cannot be used" in text
        assert page.locator(EXCEPTION).count() == 0  # type: ignore[attr-defined]
        assert page.get_by_text(FINGERPRINT).count() > 0  # type: ignore[attr-defined]
    assert_playground_serves(browser, streamlit_server)


# ------------------------------------------------------------------ heavy runs


def test_disconnect_mid_monte_carlo(browser: object, streamlit_server: str) -> None:
    """A student closes the tab while a 64-draw Monte Carlo run is going: the server
    carries on serving the next visitor."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{streamlit_server}/uncertainty?draws=64&seed=5")
    page.wait_for_selector('[data-testid="stProgress"]', timeout=SETTLE_MS)
    context.close()  # the websocket goes away mid-computation
    assert_playground_serves(browser, streamlit_server)


def test_newer_interaction_supersedes_monte_carlo(streamlit_server: str) -> None:
    """Changing a control during a 64-draw run interrupts it (progress shown first),
    instead of queueing the change behind it; the newer settings are what is shown.

    The 64-draw run reports progress after every chunk of draws and the server streams
    those updates as they come; had it gone on behind the change, its later updates
    ("16 of 64", ...) would arrive before the new run's. At most the chunk in flight when
    the change arrived may still report."""
    sess = Session(streamlit_server, "uncertainty", "draws=2&seed=9", timeout=240)
    try:
        first = sess.open()
        assert first.ok and not first.exceptions
        sess.send_rerun(sess_states(sess, draws=64))
        assert sess.wait_for_progress().endswith(" of 64")
        run = sess.set(draws=3)
        assert run.ok and not run.exceptions
        heavy = [p for p in run.progress if p.endswith(" of 64")]
        assert len(heavy) <= 1, f"the 64-draw run went on: {heavy}"
        assert any(p.endswith(" of 3") for p in run.progress)
        assert any("3 draws" in t for t in run.texts())
    finally:
        sess.close()


def sess_states(sess: Session, **params: object) -> object:
    """The widget states that set ``params`` on the session's current page."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    assert sess.last is not None
    widgets = sess.last.widgets()
    states = WidgetStates()
    for key, value in params.items():
        states.widgets.append(widget_state(*widgets[key], value))
    return states


# ------------------------------------------------------------------ weights at start-up


@pytest.fixture(params=["missing", "corrupt"])
def broken_weights_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A server started with DROPLAB_WEIGHTS naming a missing or a corrupt file."""
    weights = tmp_path / "weights.pth"
    if request.param == "corrupt":
        weights.write_bytes(os.urandom(64 * 1024))
    proc, url = start_server(
        tmp_path, {"DROPLAB_WEIGHTS": str(weights), "DROPLAB_MODEL": "resnet18"}
    )
    try:
        yield url, request.param
    finally:
        stop_server(proc)


def test_bad_weights_file_at_start_says_so_and_serves(
    broken_weights_server: tuple[str, str], browser: object
) -> None:
    """The operator's weights file is missing/corrupt: the pages say why, none crashes,
    the model-free page still works, and the server stays healthy."""
    url, kind = broken_weights_server
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        open_page(page, f"{url}/")
        text = alerts(page)
        assert "could not be loaded" in text
        assert ("does not exist" if kind == "missing" else "corrupt") in text
        assert page.locator(EXCEPTION).count() == 0
        # The math page needs no model: reached from the navigation, as a person would.
        page.get_by_text("The math", exact=True).first.click()
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=SETTLE_MS)
        settle(page)
        assert page.locator(EXCEPTION).count() == 0
        assert page.locator('[data-testid="stPlotlyChart"]').count() > 0
    finally:
        context.close()
    assert healthy(url)


def test_corrupt_cached_weights_fall_back_to_random(tmp_path: Path, browser: object) -> None:
    """A damaged file in the torchvision cache (weights="auto"): random init, flagged,
    with the reason, and the Playground works."""
    import torchvision

    name = "resnet18"
    cached = (
        tmp_path
        / "torch-home"
        / "hub"
        / "checkpoints"
        / os.path.basename(torchvision.models.get_model_weights(name).DEFAULT.url)
    )
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    proc, url = start_server(tmp_path, {"DROPLAB_WEIGHTS": "auto", "DROPLAB_MODEL": name})
    try:
        context = browser.new_context()  # type: ignore[attr-defined]
        try:
            page = context.new_page()
            open_page(page, f"{url}/?seed=1")
            text = alerts(page)
            assert "Random weights" in text and "corrupt" in text
            assert page.locator(EXCEPTION).count() == 0
            assert page.get_by_text(FINGERPRINT).count() > 0
        finally:
            context.close()
    finally:
        stop_server(proc)
