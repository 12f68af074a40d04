"""Playground latency as a person feels it: control change -> updated page, in Chromium.

Starts ``streamlit run app.py`` (random weights, env DROPLAB_MODEL or --model), opens the
Playground in headless Chromium and makes ``--changes`` control changes (keep_prob and
block_size slider steps, seed steps, method switches). Each change is timed in the browser
from just before the input event to the moment the page has finished updating (the status
line shows the new run, no element is stale and Streamlit's running indicator is gone) and
the frame that shows it has been painted.

    python bench/bench_ui_latency.py [--model resnet50] [--changes 12] [--renderer-cpu]
                                     [--wait observer|poll] [--app-root CHECKOUT] [--pause S]

How the end is noticed matters on two cores: ``poll`` (what the browser tests use, and
this script before the twelfth sitting) asks Playwright to re-check the page on every
animation frame, which reads the text of every caption (forcing style and layout) 60 times
a second while the page is busiest. ``observer`` (the default) checks only when the page's
DOM changes, with no layout, as a person's browser would carry no such load.

Prints one line per change and the median, and writes JSON under bench/results/.
``--renderer-cpu`` also records a V8 CPU profile of the page while it changes and prints the
renderer's busy milliseconds per change: what the browser spends on the same two cores as
the server, and a less noisy measure of the page's weight in the browser than the latency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (  # noqa: E402  (after sys.path)
    CHROMIUM,
    CHROMIUM_ARGS,
    RUNNING,
    SKELETON,
    STALE,
    STATUS_MARK,
    open_selectbox,
    pick_option,
    slider_thumb,
    start_server,
    status_text,
    stop_server,
    wait_settled,
    wait_status_changed,
)

Action = Callable[[object], None]


def press(label: str, key: str) -> tuple[Action, Action]:
    def focus(page: object) -> None:
        slider_thumb(page, label).focus()  # type: ignore[attr-defined]

    def act(page: object) -> None:
        slider_thumb(page, label).press(key)  # type: ignore[attr-defined]

    return focus, act


def _seed_button(page: object) -> object:
    return (
        page.locator('[data-testid="stNumberInput"]')  # type: ignore[attr-defined]
        .filter(has_text="Seed")
        .get_by_test_id("stNumberInputStepUp")
    )


SEED_UP: tuple[Action, Action] = (
    lambda page: _seed_button(page).hover(),  # type: ignore[attr-defined]
    lambda page: _seed_button(page).click(),  # type: ignore[attr-defined]
)


def method(name: str) -> tuple[Action, Action]:
    """Open the method drop-down (untimed: that is the person reading), then pick ``name``."""
    return (lambda page: open_selectbox(page, "Regularizer"), lambda page: pick_option(page, name))


# (name, untimed preparation, timed input)
CHANGES: list[tuple[str, tuple[Action, Action]]] = [
    ("keep_prob -0.01", press("keep_prob", "ArrowLeft")),
    ("block_size +1", press("block_size", "ArrowRight")),
    ("seed +1", SEED_UP),
    ("method Dropout", method("Dropout")),
    ("keep_prob +0.01", press("keep_prob", "ArrowRight")),
    ("method DropBlock", method("DropBlock")),
    ("block_size -1", press("block_size", "ArrowLeft")),
    ("method SpatialDropout", method("SpatialDropout")),
    ("seed +1", SEED_UP),
    ("method DropBlock", method("DropBlock")),
]


# Watches the page from before the input event: records when the status line first shows
# a new run (the page is still updating then: this splits each latency into "until the pass
# is done" and "rendering the rest") and when the page has finished updating. Checks on DOM
# changes only, reading textContent (no layout). Resolves after the next frame is painted.
_WATCH_JS = f"""(previous) => {{
    const status = () => {{
        for (const e of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {{
            if (e.textContent.includes('{STATUS_MARK}')) return e.textContent;
        }}
        return null;
    }};
    const watch = {{shown: null}};
    window.__droplabDone = new Promise(resolve => {{
        const observer = new MutationObserver(() => {{
            const now = status();
            if (now === null || now === previous) return;
            if (watch.shown === null) watch.shown = performance.now();
            if (document.querySelector('{RUNNING}') || document.querySelector('{STALE}')
                || document.querySelector('{SKELETON}')) return;
            observer.disconnect();
            // rAF runs just before the frame's paint; the task after it, once it is done.
            requestAnimationFrame(() => setTimeout(() => resolve(
                {{end: performance.now(), shown: watch.shown, status: now}})));
        }});
        observer.observe(document.body,
                         {{subtree: true, childList: true, characterData: true, attributes: true}});
    }});
}}"""

# The same, polled by Playwright on every animation frame (the browser tests' wait).
_WATCH_STATUS = """(previous) => {
    window.__droplabStatusAt = null;
    const seen = () => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .some(e => e.innerText.includes('masks fingerprint') && e.innerText !== previous);
    const observer = new MutationObserver(() => {
        if (window.__droplabStatusAt === null && seen()) {
            window.__droplabStatusAt = performance.now();
            observer.disconnect();
        }
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

_TEXT_JS = f"""() => ([...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .find(e => e.textContent.includes('{STATUS_MARK}')) || {{textContent: ''}}).textContent"""


def _status_text(page: object) -> str:
    """The status line as the observer reads it (textContent: no layout)."""
    return str(page.evaluate(_TEXT_JS))  # type: ignore[attr-defined]


def _timed_observed(page: object, act: Action, previous: str) -> tuple[float, float, str]:
    """(latency s, status shown s, new status text) of ``act``, noticed by an observer."""
    page.evaluate(_WATCH_JS, previous)  # type: ignore[attr-defined]
    start = page.evaluate("performance.now()")  # type: ignore[attr-defined]
    act(page)
    done = page.evaluate("window.__droplabDone")  # type: ignore[attr-defined]
    return (done["end"] - start) / 1000, (done["shown"] - start) / 1000, done["status"]


def _timed_polled(page: object, act: Action, previous: str) -> tuple[float, float, str]:
    """The same, noticed by Playwright polling the page on every animation frame."""
    page.evaluate(_WATCH_STATUS, previous)  # type: ignore[attr-defined]
    start = page.evaluate("performance.now()")  # type: ignore[attr-defined]
    act(page)
    status = wait_status_changed(page, previous)
    end = page.evaluate("performance.now()")  # type: ignore[attr-defined]
    shown = page.evaluate("window.__droplabStatusAt")  # type: ignore[attr-defined]
    return (end - start) / 1000, (shown - start) / 1000, status


# --wait: how the end of a change is noticed; and the status line as each one reads it.
WAITS = {"observer": (_timed_observed, _status_text), "poll": (_timed_polled, status_text)}


def renderer_busy_ms(trace: Path) -> float:
    """Milliseconds the V8 CPU profile in a Chromium ``trace`` spent outside ``(idle)``."""
    data = json.loads(trace.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    nodes: dict[tuple[str, int], str] = {}
    busy = 0.0
    for e in events:
        if e.get("name") not in ("Profile", "ProfileChunk"):
            continue
        chunk = e.get("args", {}).get("data", {})
        profile = chunk.get("cpuProfile", {})
        for n in profile.get("nodes", []) or []:
            nodes[(e["id"], n["id"])] = n["callFrame"].get("functionName", "")
        # timeDeltas[i] is the time before sample i; charge it to the sample before.
        samples = profile.get("samples", []) or []
        deltas = chunk.get("timeDeltas", []) or []
        for sample, delta in zip(samples, deltas[1:], strict=False):
            if nodes.get((e["id"], sample)) != "(idle)":
                busy += delta / 1e3
    return busy


def measure(
    url: str,
    changes: int,
    trace: Path | None = None,
    wait: str = "observer",
    pause: float = 0.0,
) -> list[dict[str, object]]:
    """Time ``changes`` control changes on the Playground at ``url``, the end noticed as
    ``wait`` says (a key of :data:`WAITS`), ``pause`` seconds apart (a person looking at
    the result; 0: back to back), and record a CPU profile of the page into ``trace`` if
    given."""
    from playwright.sync_api import sync_playwright

    rows: list[dict[str, object]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_text("masks fingerprint").wait_for(timeout=300_000)
        wait_settled(page)
        timed, read_status = WAITS[wait]
        status = read_status(page)
        if trace is not None:
            browser.start_tracing(
                page=page, path=str(trace), categories=["disabled-by-default-v8.cpu_profiler"]
            )
        for i in range(changes):
            name, (prepare, act) = CHANGES[i % len(CHANGES)]
            time.sleep(pause)
            prepare(page)
            latency, shown, status = timed(page, act, status)
            pass_s = float(re.search(r"pass ([0-9.]+) s", status).group(1))  # type: ignore[union-attr]
            rows.append(
                {
                    "change": name,
                    "latency_s": latency,
                    "pass_s": pass_s,
                    "status_shown_s": shown,
                    # Served from the shared cache: no pass ran for this change.
                    "shared": "shared result" in status,
                }
            )
            print(
                f"{i + 1:3d}  {name:24s} {rows[-1]['latency_s']:6.3f} s  (probe pass "
                f"{pass_s:.2f} s{', shared' if rows[-1]['shared'] else ''}, new status "
                f"line after {rows[-1]['status_shown_s']:.2f} s)",
                flush=True,
            )
        if trace is not None:
            time.sleep(1.0)  # the last change's images and layout
            browser.stop_tracing()
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("DROPLAB_MODEL", "resnet50"))
    parser.add_argument("--changes", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--renderer-cpu",
        action="store_true",
        help="also profile the page and print the renderer's busy ms per change",
    )
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="the checkout whose app.py to serve (default: this one); "
        "an older commit's checkout gives the 'before' of a comparison",
    )
    parser.add_argument(
        "--wait",
        choices=sorted(WAITS),
        default="observer",
        help="notice a change's end by a DOM observer (default) or by "
        "Playwright polling every animation frame (the browser tests' wait)",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds between one change's end and the next change, as a "
        "person looks at the result (default 0: back to back, which also "
        "times the previous change's leftover work)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    trace = tmp / "trace.json" if args.renderer_cpu else None
    proc, url = start_server(tmp, {"DROPLAB_MODEL": args.model}, root=args.app_root.resolve())
    try:
        rows = measure(url, args.changes, trace, args.wait, args.pause)
    finally:
        stop_server(proc)
    latencies = [cast("float", r["latency_s"]) for r in rows]
    import torch

    summary = {
        "what": "Playground control change -> updated page, measured in Chromium",
        "model": args.model,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "wait": args.wait,
        "pause_s": args.pause,
        "app_root": str(args.app_root.resolve()),
        "changes": rows,
        "median_s": statistics.median(latencies),
        "p90_s": sorted(latencies)[max(0, round(0.9 * len(latencies)) - 1)],
        "max_s": max(latencies),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if trace is not None:
        summary["renderer_busy_ms_per_change"] = renderer_busy_ms(trace) / len(rows)
        print(
            f"renderer busy {summary['renderer_busy_ms_per_change']:.0f} ms per change "
            "(V8 CPU profile of the page, idle excluded)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"ui_latency_{args.model}_{summary['device']}.json"
    out.write_text(json.dumps(summary, indent=2))
    print(
        f"median {summary['median_s']:.3f} s, p90 {summary['p90_s']:.3f} s, "
        f"max {summary['max_s']:.3f} s over {len(rows)} changes ({args.model}, "
        f"{summary['device']}, end noticed by {args.wait}, {args.pause:g} s apart) -> {out}"
    )


if __name__ == "__main__":
    main()
