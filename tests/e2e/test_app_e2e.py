"""DropLab in a real Chromium against a real server: pages, live controls, uploads, links.

Screenshots land in tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import (
    PLAYGROUND_LAST,
    ROOT,
    open_selectbox,
    pick_option,
    slider_thumb,
    status_text,
    wait_settled,
    wait_status_changed,
)

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "tests" / "artifacts"
EXCEPTION = '[data-testid="stException"]'
FINGERPRINT = re.compile(r"masks fingerprint\s+([0-9a-f]{12})")
# What each page shows once its run is complete.
DONE = {
    "": f"text={PLAYGROUND_LAST}",
    "compare": "text=Cells (CSV)",
    "uncertainty?draws=4": "text=Summary (JSON)",
    "theory": '[data-testid="stPlotlyChart"]',
}


def shot(page: object, name: str) -> Path:
    """Screenshot the whole app (a tall viewport: Streamlit scrolls inside the page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.set_viewport_size({"width": 1400, "height": 2600})  # type: ignore[attr-defined]
    wait_settled(page)
    # Charts scrolled into view by the taller viewport draw lazily: wait for every one.
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
            .every(c => c.querySelector('.main-svg'))""",
        timeout=60_000,
    )
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    page.set_viewport_size({"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    return path


def open_page(page: object, base: str, path: str = "") -> None:
    page.goto(f"{base}/{path}")  # type: ignore[attr-defined]
    page.locator(DONE.get(path, "h1")).first.wait_for(timeout=300_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)


def assert_no_exception(page: object) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).all_inner_texts()  # type: ignore[attr-defined]


def fingerprint(page: object) -> str:
    match = FINGERPRINT.search(status_text(page))
    assert match, status_text(page)
    return match.group(1)


def metrics(page: object) -> dict[str, str]:
    """Label -> value of every st.metric and every static headline number (stat_html)."""
    pairs = page.evaluate(  # type: ignore[attr-defined]
        """() => [...[...document.querySelectorAll('[data-testid="stMetric"]')].map(m => [
            m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
            m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]),
          ...[...document.querySelectorAll('[data-stat]')].map(m => [
            m.getAttribute('data-stat'),
            m.querySelector('[data-stat-value]').innerText.trim()])]"""
    )
    return dict(pairs)


def png(size: tuple[int, int] = (96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buf, "PNG")
    return buf.getvalue()


def upload(page: object, name: str, data: bytes) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(  # type: ignore[attr-defined]
        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )


@pytest.mark.parametrize("path", list(DONE), ids=["playground", "compare", "uncertainty", "theory"])
def test_each_page_loads(page: object, streamlit_server: str, path: str) -> None:
    open_page(page, streamlit_server, path)
    text = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Random weights: predictions are meaningless" in text
    assert re.search(r"CPU · \d+ threads|GPU · ", text)
    shot(page, f"page_{path.split('?')[0] or 'playground'}")


def test_download_menu_gives_the_result_shown(page: object, streamlit_server: str) -> None:
    open_page(page, streamlit_server)
    shown = fingerprint(page)
    page.get_by_role("button", name=PLAYGROUND_LAST).click()  # type: ignore[attr-defined]
    with page.expect_download() as info:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Everything (JSON)").click()  # type: ignore[attr-defined]
    saved = json.loads(Path(info.value.path()).read_text())
    assert saved["masks_fingerprint"] == shown and saved["keep_prob"] == 0.9
    assert [row["rank"] for row in saved["top5"]] == [1, 2, 3, 4, 5]
    # After a step that reran only the results: the files are this step's.
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    status = status_text(page)
    slider_thumb(page, "keep_prob").press("ArrowLeft")  # type: ignore[attr-defined]
    wait_status_changed(page, status)
    stepped = fingerprint(page)
    assert stepped != shown
    page.get_by_role("button", name=PLAYGROUND_LAST).click()  # type: ignore[attr-defined]
    with page.expect_download() as info:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Everything (JSON)").click()  # type: ignore[attr-defined]
    saved = json.loads(Path(info.value.path()).read_text())
    assert saved["masks_fingerprint"] == stepped and saved["keep_prob"] == 0.89
    assert_no_exception(page)


def test_sliders_and_methods_update_the_playground(page: object, streamlit_server: str) -> None:
    open_page(page, streamlit_server)
    status = status_text(page)
    slider_thumb(page, "keep_prob").press("ArrowLeft")  # type: ignore[attr-defined]
    status = wait_status_changed(page, status)
    assert "keep_prob 0.89" in status and "keep=0.89" in page.url  # type: ignore[attr-defined]
    slider_thumb(page, "block_size").press("ArrowRight")  # type: ignore[attr-defined]
    status = wait_status_changed(page, status)
    assert "block 8" in status and "block=8" in page.url  # type: ignore[attr-defined]
    # Every method is covered by the AppTests; here: switching really reruns in a browser.
    for name in ("DropConnect", "None", "DropBlock"):
        open_selectbox(page, "Regularizer")
        pick_option(page, name)
        status = wait_status_changed(page, status)
        assert (name if name != "None" else "No regularizer") in status
        assert_no_exception(page)
    assert "method=" not in page.url  # type: ignore[attr-defined]  # back to the default
    # The slider changes reran only the results; redrawing the controls since kept them.
    assert "DropBlock · keep_prob 0.89 · block 8 ·" in status, status
    assert "keep=0.89" in page.url and "block=8" in page.url  # type: ignore[attr-defined]
    shot(page, "playground_after_changes")


def test_upload_good_and_bad_image(page: object, streamlit_server: str) -> None:
    open_page(page, streamlit_server)
    status = status_text(page)
    upload(page, "meadow.png", png())
    status = wait_status_changed(page, status)
    page.get_by_text("Input (meadow.png)").wait_for()  # type: ignore[attr-defined]
    shot(page, "upload_good")
    upload(page, "broken.png", b"\x89PNG\r\n\x1a\nthis is not really a picture")
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="broken.png")  # type: ignore[attr-defined]
    alert.wait_for(timeout=120_000)
    wait_settled(page)
    assert "cannot be used" in alert.inner_text()  # type: ignore[attr-defined]
    page.get_by_text("Input (cat)").wait_for()  # type: ignore[attr-defined]  # sample again
    assert_no_exception(page)
    shot(page, "upload_bad")


def test_shared_link_reproduces_the_masks(
    browser: object, page: object, streamlit_server: str
) -> None:
    open_page(page, streamlit_server)
    status = status_text(page)
    for label, key in (
        ("keep_prob", "ArrowLeft"),
        ("keep_prob", "ArrowLeft"),
        ("block_size", "ArrowLeft"),
    ):
        slider_thumb(page, label).press(key)  # type: ignore[attr-defined]
        status = wait_status_changed(page, status)
    page.locator('[data-testid="stNumberInput"]').filter(has_text="Seed").get_by_test_id(  # type: ignore[attr-defined]
        "stNumberInputStepUp"
    ).click()
    status = wait_status_changed(page, status)
    link = page.url  # type: ignore[attr-defined]
    assert all(p in link for p in ("keep=0.88", "block=6", "seed=1"))
    sent = (fingerprint(page), metrics(page))
    assert {"target p", "measured", "KL(baseline ‖ draw)"} <= set(sent[1]), sent

    other = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    try:
        received = other.new_page()
        received.goto(link)
        received.get_by_text(PLAYGROUND_LAST).wait_for(timeout=300_000)
        wait_settled(received)
        assert (fingerprint(received), metrics(received)) == sent
        assert_no_exception(received)
        shot(received, "shared_link_received")
    finally:
        other.close()


def test_bad_link_values_are_reported(page: object, streamlit_server: str) -> None:
    page.goto(f"{streamlit_server}/?keep=nan&block=999&method=Nope&seed=-5")  # type: ignore[attr-defined]
    page.get_by_text(PLAYGROUND_LAST).wait_for(timeout=300_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)
    warning = page.locator('[data-testid="stAlert"]').filter(  # type: ignore[attr-defined]
        has_text="could not be used"
    )
    text = warning.inner_text()
    assert all(p in text for p in ("keep=nan", "block=999", "method=Nope", "seed=-5"))
    assert "keep_prob 0.9 · block 7" in status_text(page)
    shot(page, "bad_link")


def test_playground_path_forwards_to_the_default_page(page: object, streamlit_server: str) -> None:
    # The first visit puts the server in navigation mode; from then on Streamlit serves the
    # default page only at "/", so "/playground" needs the app's alias.
    open_page(page, streamlit_server)
    page.goto(f"{streamlit_server}/playground?seed=3&stages=layer1&stages=layer4")  # type: ignore[attr-defined]
    page.get_by_text(PLAYGROUND_LAST).wait_for(timeout=300_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)
    assert "Page not found" not in page.inner_text("body")  # type: ignore[attr-defined]
    url = page.url  # type: ignore[attr-defined]
    assert url.startswith(f"{streamlit_server}/?"), url
    assert all(p in url for p in ("seed=3", "stages=layer1", "stages=layer4")), url
    assert "seed 3" in status_text(page)


def _view(pg: object) -> tuple[object, ...]:
    # Both kinds of picture: files (CAMs) and inline cells (masks, activations).
    images = pg.eval_on_selector_all(  # type: ignore[attr-defined]
        '[data-testid="stImage"] img, [data-testid="stHtml"] img',
        "els => els.map(e => e.getAttribute('src'))",
    )
    return fingerprint(pg), metrics(pg), images


def _stable_view(pg: object, timeout_s: float = 60.0) -> tuple[object, ...]:
    """Fingerprint, numbers and image URLs once two reads 0.5 s apart agree. In one full
    suite run a page read right after settling lacked one CAM image (not reproduced alone);
    a real difference between sessions stays and still fails the comparison."""
    deadline = time.monotonic() + timeout_s
    last = _view(pg)
    while True:
        pg.wait_for_timeout(500)  # type: ignore[attr-defined]
        wait_settled(pg)
        now = _view(pg)
        if now == last or time.monotonic() > deadline:
            return now
        last = now


def test_two_sessions_with_identical_settings_see_identical_results(
    browser: object, streamlit_server: str
) -> None:
    """Two students open the same setting at the same moment: one pass serves both, and
    they see the same masks, numbers and pictures (pictures are content-addressed, so
    equal bytes give equal image URLs)."""
    link = f"{streamlit_server}/?keep=0.85&block=5&seed=21&stages=layer2&stages=layer3"
    contexts = [
        browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        for _ in range(2)
    ]
    try:
        pages = [ctx.new_page() for ctx in contexts]
        for pg in pages:
            pg.goto(link)
        seen = []
        for pg in pages:
            pg.get_by_text(PLAYGROUND_LAST).wait_for(timeout=300_000)
            wait_settled(pg)
            assert_no_exception(pg)
            seen.append(_stable_view(pg))
        assert seen[0] == seen[1]
        assert len(seen[0][2]) >= 5  # input, two CAMs, mask, before, after, grid
        # One of them computed the pass; the other was served the shared result.
        assert any("shared result" in status_text(pg) for pg in pages)
    finally:
        for ctx in contexts:
            ctx.close()
