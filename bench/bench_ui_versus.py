"""Two checkouts' Playground side by side in Chromium, their changes interleaved one by one.

On this VM the speed drifts by 1.5-2x within minutes, so two runs of
``bench_ui_latency.py`` one after the other can differ by more than a change to the page
does. Here both apps run at once (a server and a browser each) and take turns: change i
is made on one side and then on the other, alternating who goes first, so a drift falls
on both alike. Each change is timed as ``bench_ui_latency`` times it (same changes, same
end), and reports, per side:

- latency: control change -> updated and painted page (median);
- main-thread task time of the page (Chromium's ``Performance.getMetrics``
  ``TaskDuration``; script and style/layout parts): what the browser spends per change on
  the cores it shares with the server here;
- the server's CPU per change (process and children).

    python bench/bench_ui_versus.py --before CHECKOUT [--after CHECKOUT] [--changes 30]

``--before`` is usually a ``git worktree`` of an older commit. Prints both sides, the
ratio after/before of each figure, and the Playground goal (median under 0.5 s) as met /
NOT met per side; writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ui_latency import CHANGES, WAITS  # noqa: E402  (after sys.path)
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    start_server,
    stop_server,
    wait_settled,
)

GOAL_S = 0.5  # issue #13: Playground median, control change -> updated page
WARM_UP = 2  # changes per side not counted (first use of each code path)


@dataclass(frozen=True)
class Change:
    """One timed change on one side."""

    name: str
    latency_s: float
    status_shown_s: float
    task_ms: float  # the page's main-thread task time during the change
    script_ms: float
    style_layout_ms: float
    server_cpu_ms: float


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its live children."""
    proc = psutil.Process(pid)
    times = [proc.cpu_times()]
    for child in proc.children(recursive=True):
        try:
            times.append(child.cpu_times())
        except psutil.Error:  # ended between listing and reading
            continue
    return sum(t.user + t.system for t in times)


def page_metrics(cdp: Any) -> tuple[float, float, float]:
    """(task, script, style + layout) seconds the page's main thread has spent so far."""
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return (
        got["TaskDuration"],
        got["ScriptDuration"],
        got["LayoutDuration"] + got["RecalcStyleDuration"],
    )


def summarize(changes: list[Change]) -> dict[str, float]:
    """Median latency and status time; mean task, script, style/layout and server CPU ms."""
    if not changes:
        raise ValueError("summarize needs at least one change")
    return {
        "median_latency_s": statistics.median(c.latency_s for c in changes),
        "median_status_shown_s": statistics.median(c.status_shown_s for c in changes),
        "task_ms_per_change": statistics.fmean(c.task_ms for c in changes),
        "script_ms_per_change": statistics.fmean(c.script_ms for c in changes),
        "style_layout_ms_per_change": statistics.fmean(c.style_layout_ms for c in changes),
        "server_cpu_ms_per_change": statistics.fmean(c.server_cpu_ms for c in changes),
    }


def ratios(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """after / before of every figure both summaries hold (nan where before is 0)."""
    return {k: (after[k] / before[k] if before[k] else float("nan")) for k in before if k in after}


class Side:
    """One app in its own browser, ready for changes."""

    def __init__(self, playwright: Any, url: str, server_pid: int) -> None:
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.goto(url)
        self.page.get_by_text("masks fingerprint").wait_for(timeout=300_000)
        wait_settled(self.page)
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.timed, read_status = WAITS["observer"]
        self.status = read_status(self.page)
        self.server_pid = server_pid

    def change(self, index: int) -> Change:
        name, (prepare, act) = CHANGES[index % len(CHANGES)]
        prepare(self.page)
        time.sleep(0.2)  # the preparation's own work (a menu opening) is not the change's
        page0, cpu0 = page_metrics(self.cdp), process_cpu_s(self.server_pid)
        latency, shown, self.status = self.timed(self.page, act, self.status)
        time.sleep(0.4)  # work the change leaves behind (images decoded, late effects)
        page1, cpu1 = page_metrics(self.cdp), process_cpu_s(self.server_pid)
        task, script, style = (1000 * (b - a) for a, b in zip(page0, page1, strict=True))
        return Change(name, latency, shown, task, script, style, 1000 * (cpu1 - cpu0))


def interleave(urls: list[str], pids: list[int], changes: int) -> list[list[Change]]:
    """``changes`` timed changes on each side (after :data:`WARM_UP`), in turns."""
    from playwright.sync_api import sync_playwright

    done: list[list[Change]] = [[], []]
    with sync_playwright() as pw:
        sides = [Side(pw, url, pid) for url, pid in zip(urls, pids, strict=True)]
        try:
            for i in range(WARM_UP + changes):
                for k in (0, 1) if i % 2 == 0 else (1, 0):
                    timed = sides[k].change(i)
                    if i >= WARM_UP:
                        done[k].append(timed)
                        print(
                            f"{i - WARM_UP + 1:3d} {'before' if k == 0 else 'after ':6s} "
                            f"{timed.name:24s} {timed.latency_s:6.3f} s  page tasks "
                            f"{timed.task_ms:5.0f} ms  server {timed.server_cpu_ms:5.0f} ms",
                            flush=True,
                        )
        finally:
            for side in sides:
                side.browser.close()
    return done


def _report(summaries: dict[str, dict[str, float]]) -> None:
    for label, s in summaries.items():
        goal = "met" if s["median_latency_s"] < GOAL_S else "NOT met"
        print(
            f"{label:6s}: median {s['median_latency_s']:.3f} s (status line "
            f"{s['median_status_shown_s']:.3f} s); page tasks {s['task_ms_per_change']:.0f} "
            f"ms/change (script {s['script_ms_per_change']:.0f}, style+layout "
            f"{s['style_layout_ms_per_change']:.0f}); server CPU "
            f"{s['server_cpu_ms_per_change']:.0f} ms/change; median < {GOAL_S} s: {goal}"
        )
    r = ratios(summaries["before"], summaries["after"])
    print(
        "after / before: "
        + ", ".join(
            f"{k.removesuffix('_per_change').removesuffix('_s')} {v:.2f}" for k, v in r.items()
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the 'before'")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--changes", type=int, default=30, help="timed changes per side")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    roots = [args.before.resolve(), args.after.resolve()]
    servers = []
    try:
        for k, root in enumerate(roots):
            (tmp / str(k)).mkdir()
            servers.append(start_server(tmp / str(k), {"DROPLAB_MODEL": args.model}, root=root))
        # Both sides open the same link: same picture, settings and seed sequence.
        urls = [f"{url}/?seed=4242" for _, url in servers]
        done = interleave(urls, [proc.pid for proc, _ in servers], args.changes)
    finally:
        for proc, _ in servers:
            stop_server(proc)
    summaries = {"before": summarize(done[0]), "after": summarize(done[1])}
    _report(summaries)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"ui_versus_{args.model}.json"
    out.write_text(
        json.dumps(
            {
                "what": "Playground changes interleaved between two checkouts, in Chromium",
                "before": str(roots[0]),
                "after": str(roots[1]),
                "model": args.model,
                "summaries": summaries,
                "ratios": ratios(summaries["before"], summaries["after"]),
                "changes": {
                    "before": [asdict(c) for c in done[0]],
                    "after": [asdict(c) for c in done[1]],
                },
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
