"""The Train page in a real Chromium against a real server that trains for real.

The server gets a private, empty run cache (DROPLAB_RUNS), so the quick lesson below
trains from scratch in the server's background worker: three runs of 500 images, a few
minutes on a 2-core CPU. The tests run in file order and share that server: the later
ones open the networks the earlier one trained. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from dropcore.train.presets import LESSONS

from .conftest import PLAYGROUND_LAST, start_server, stop_server, wait_settled
from .test_app_e2e import assert_no_exception, shot

pytestmark = pytest.mark.e2e

LESSON = LESSONS["schedule"].title  # three variants: the smallest lesson
QUERY = f"train?lesson={quote(LESSON)}&size=quick&seeds=1"
TRAIN_MINUTES = 15
# What the training session saw, for the later tests that open its link afresh.
TRAINED: dict[str, list[list[float]]] = {}


@pytest.fixture(scope="module")
def train_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DropLab server of its own, with an empty run cache in a temporary directory."""
    tmp = tmp_path_factory.mktemp("train-server")
    proc, url = start_server(tmp, {"DROPLAB_RUNS": str(tmp / "runs")})
    yield url
    stop_server(proc)


def _open(page: object, url: str) -> None:
    page.goto(url)  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Train").first.wait_for(timeout=300_000)  # type: ignore[attr-defined]
    page.locator('[data-testid="stButton"]').first.wait_for(timeout=300_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)


def _curves(page: object) -> list[list[float]]:
    """The y values of every trace of the accuracy chart, once Plotly has drawn it (the
    page's text can be complete a moment before the chart's element exists)."""
    handle = page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
            return plot && plot.data ? plot.data.map(t => Array.from(t.y)) : null;
        }""",
        timeout=30_000,
    )
    return handle.json_value()


def test_default_view_renders_without_a_click(page: object, train_server: str) -> None:
    _open(page, f"{train_server}/train")
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "Every method at its paper setting" in body
    assert "Before you train" in body or "been trained yet" in body
    assert re.search(r"Train \d+ runs", body)
    shot(page, "train_default")


def test_quick_lesson_trains_with_live_progress(page: object, train_server: str) -> None:
    _open(page, f"{train_server}/{QUERY}")
    page.get_by_role("button", name=re.compile(r"Train 3 runs")).click()  # type: ignore[attr-defined]
    progress = page.locator('[data-testid="stProgress"]')  # type: ignore[attr-defined]
    progress.first.wait_for(timeout=60_000)
    seen = {progress.first.inner_text()}
    # Live: the progress text changes while the page is left alone, and curves appear.
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=600_000)  # type: ignore[attr-defined]
    seen.add(progress.first.inner_text())
    assert any("left" in s or "estimating" in s for s in seen), seen
    shot(page, "train_running")
    page.get_by_text("Results per variant").wait_for(timeout=TRAIN_MINUTES * 60_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "All runs are done" in body
    assert len(seen) >= 2, seen
    TRAINED["curves"] = _curves(page)
    page.get_by_role("button", name="Measure the CAM spread").click()  # type: ignore[attr-defined]
    page.get_by_text("Averaged over").wait_for(timeout=300_000)  # type: ignore[attr-defined]
    shot(page, "train_done")


def test_shared_link_reproduces_the_curves(page: object, train_server: str) -> None:
    # A fresh browser session opens the link the trainer would share.
    assert TRAINED, "the training test did not finish"
    _open(page, f"{train_server}/{QUERY}")
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "1 × from the cache" in body and "All runs are done" in body
    assert _curves(page) == TRAINED["curves"]


def test_trained_network_opens_in_the_playground(page: object, train_server: str) -> None:
    _open(page, f"{train_server}/{QUERY}")
    # The first variant's "Playground" link (the link carries the network: net=...).
    page.locator('a[href*="net="]').first.click()  # type: ignore[attr-defined]
    page.get_by_text(PLAYGROUND_LAST).wait_for(timeout=300_000)  # type: ignore[attr-defined]
    wait_settled(page)
    assert_no_exception(page)
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "Input (T-shirt/top)" in body
    assert "Small ResNet trained here" in body  # the frame names the picked network
    # A prediction among Fashion-MNIST's classes, not ImageNet's.
    classes = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    assert re.search(r"Baseline: (" + "|".join(map(re.escape, classes)) + r") \(", body), body
    shot(page, "train_playground")
