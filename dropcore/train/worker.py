"""Computing one run into the cache: claim, train with live progress, store, release.

:func:`compute` is what every path (CLI, background worker process, tests) calls, so the
single-flight, cancellation and atomic-store rules hold everywhere. :func:`serve` is the
loop of a background worker process: configs in on stdin (one JSON per line), one
``<key> <outcome>`` line out on stdout per config.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Literal

import torch

from .cache import RunCache
from .config import RunConfig
from .loop import Progress, RunCancelled, train

__all__ = ["Outcome", "compute", "serve"]

Outcome = Literal["done", "cached", "busy", "cancelled", "failed"]
# Step reports are throttled; epoch reports always go out.
_STEP_REPORT_S = 0.5


class _Reporter:
    """Writes progress reports as JSON lines."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last = 0.0

    def event(self, **fields: object) -> None:
        self.out.write(json.dumps({"time": time.time(), **fields}) + "\n")

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if p.record is None and now - self.last < _STEP_REPORT_S and p.step != p.total_steps:
            return
        self.last = now
        record = None if p.record is None else p.record.__dict__
        self.event(
            event="epoch" if record else "step",
            step=p.step,
            total=p.total_steps,
            epoch=p.epoch,
            elapsed=p.elapsed,
            record=record,
        )


def compute(cache: RunCache, config: RunConfig, device: str = "cpu") -> Outcome:
    """Compute ``config`` into ``cache`` unless it is there or another process computes it.

    Returns:
        ``"done"``, ``"cached"`` (already there), ``"busy"`` (another process holds the
        claim), ``"cancelled"`` (a cancel was requested) or ``"failed"`` (the error is in
        the progress file).
    """
    with cache.claim(config) as mine:
        if not mine:
            return "busy"
        if cache.has(config):
            return "cached"
        with cache.start_progress(config) as out:
            report = _Reporter(out)
            report.event(event="start", pid=os.getpid(), label=config.label())
            try:
                run = train(
                    config,
                    device=device,
                    progress=report,
                    should_stop=lambda: cache.cancel_requested(config),
                )
            except RunCancelled:
                report.event(event="cancelled")
                return "cancelled"
            except Exception as exc:  # reported to every watcher; the worker lives on
                report.event(event="failed", error=f"{type(exc).__name__}: {exc}")
                return "failed"
            cache.store(run)
            report.event(event="done", seconds=run.result.seconds)
    return "done"


def serve(root: str, niceness: int, threads: int) -> None:
    """Worker-process loop: read configs from stdin, compute each, report on stdout."""
    if niceness:
        os.nice(niceness)  # interactive pages go first
    if threads:
        torch.set_num_threads(threads)
    cache = RunCache(root)
    for line in sys.stdin:
        if not line.strip():
            continue
        config = RunConfig.from_dict(json.loads(line))
        outcome = compute(cache, config)
        print(config.key(), outcome, flush=True)
