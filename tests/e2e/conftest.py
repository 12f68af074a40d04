"""A real DropLab server on loopback and a real Chromium, shared by the end-to-end tests.

The server runs ``streamlit run app.py`` exactly as a user would start it, with random
weights (no network here) and a private TORCH_HOME so nothing on the machine leaks in.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DROPLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Block until ``url``/_stcore/health answers ok, or fail with the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"server at {url} not healthy after {timeout}s")


def start_server(
    tmp: Path, extra_env: dict[str, str] | None = None, root: Path = ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``streamlit run app.py`` of the checkout at ``root`` (this one by default) on a
    free loopback port; returns (process, base URL)."""
    port = free_port()
    env = {
        **os.environ,
        "TORCH_HOME": str(tmp / "torch-home"),
        "DROPLAB_WEIGHTS": "random",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(root / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except Exception:
        proc.kill()
        raise
    return proc, url


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server, killing it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of a DropLab server shared by the session."""
    proc, url = start_server(tmp_path_factory.mktemp("server"))
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's 'chromium' package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page per test (no shared cookies or storage)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    yield pg
    context.close()


# --- waiting for the app (shared by the DropLab app tests and bench/bench_ui_latency.py) ---

RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
STALE = '[data-stale="true"]'
# An element whose code is still loading (the first time a page shows its kind).
SKELETON = '[data-testid="stSkeleton"]'
STATUS_MARK = "masks fingerprint"
# The Playground's last element: once it is shown, the whole page has arrived.
PLAYGROUND_LAST = "Download these results"

_SETTLED_JS = f"""() => !document.querySelector('{RUNNING}')
    && !document.querySelector('{STALE}') && !document.querySelector('{SKELETON}')
    && !!document.querySelector('h1')"""

_CHANGED_JS = f"""(previous) => {{
    const status = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .find(e => e.innerText.includes('{STATUS_MARK}'));
    return !!status && status.innerText !== previous
        && !document.querySelector('{RUNNING}') && !document.querySelector('{STALE}')
        && !document.querySelector('{SKELETON}');
}}"""


def wait_settled(page: object, timeout_ms: float = 120_000) -> None:
    """Wait until a page has a title, no running indicator, no stale element and no
    element still loading.

    Streamlit shows its running indicator only after a short delay, so call this after
    something the run produces is visible (or use :func:`wait_status_changed`).
    """
    page.wait_for_function(_SETTLED_JS, timeout=timeout_ms)  # type: ignore[attr-defined]


def status_text(page: object) -> str:
    """The Playground's status line (setting, pass time, masks fingerprint); '' if absent."""
    return page.evaluate(  # type: ignore[attr-defined]
        f"""() => ([...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
            .find(e => e.innerText.includes('{STATUS_MARK}')) || {{innerText: ''}}).innerText"""
    )


def wait_status_changed(page: object, previous: str, timeout_ms: float = 120_000) -> str:
    """Wait until the Playground's run that replaces ``previous`` has finished; new status."""
    page.wait_for_function(_CHANGED_JS, arg=previous, timeout=timeout_ms)  # type: ignore[attr-defined]
    return status_text(page)


def slider_thumb(page: object, label: str) -> object:
    """The thumb of the Streamlit slider whose label is exactly ``label``."""
    exact = re.compile(rf"^{re.escape(label)}$")
    box = page.locator('[data-testid="stSlider"]').filter(  # type: ignore[attr-defined]
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=exact)  # type: ignore[attr-defined]
    )
    return box.get_by_role("slider")


def open_selectbox(page: object, label: str) -> None:
    """Open the drop-down of the selectbox labelled ``label``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    combo = (
        page.locator('[data-testid="stSelectbox"]')  # type: ignore[attr-defined]
        .filter(has_text=label)
        .get_by_role("combobox")
    )
    options = page.locator('[role="option"]')  # type: ignore[attr-defined]
    for _ in range(3):
        # The first click can be swallowed while another widget loses focus (and reruns).
        combo.click()
        try:
            options.first.wait_for(timeout=1_500)
            return
        except PlaywrightTimeout:
            continue  # not open yet: click again
    raise RuntimeError(f"the drop-down {label!r} did not open")


def pick_option(page: object, name: str) -> None:
    """Click the open drop-down's option whose text is exactly ``name``."""
    page.locator('[role="option"]').filter(  # type: ignore[attr-defined]
        has_text=re.compile(rf"^{re.escape(name)}$")
    ).click()
