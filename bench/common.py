"""Shared benchmark plumbing: steady-state medians and JSON output."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.utils.benchmark as tb

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = ["RESULTS", "environment", "interleaved_medians", "median_seconds", "write_json"]


def median_seconds(fn: Callable[[], object], min_run_time: float = 1.0) -> float:
    """Median wall time of ``fn`` in a steady-state loop (torch.utils.benchmark).

    Each candidate runs in its own block, so the allocator reaches the same steady state
    a training loop sees; CUDA work is synchronised by the Timer.
    """
    fn()  # warm-up: first-call allocations and lazy initialisation
    timer = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def interleaved_medians(
    candidates: dict[str, Callable[[], object]], rounds: int = 5, min_run_time: float = 0.2,
) -> dict[str, float]:
    """Median over ``rounds`` of each candidate's steady-state median, candidates interleaved.

    On a small CPU VM the allocator's state (whether glibc serves a multi-MB output from the
    heap or from fresh, page-faulting memory) swings a single median by up to 2x; running
    every candidate in each round, in rotating order, exposes all of them to the same drift,
    so their ratios stay meaningful.
    """
    names = list(candidates)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            per_round[name].append(median_seconds(candidates[name], min_run_time))
    return {name: statistics.median(times) for name, times in per_round.items()}


def environment(device: torch.device) -> dict[str, object]:
    """What the figures were measured on."""
    env: dict[str, object] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def write_json(name: str, payload: dict[str, object]) -> Path:
    """Write ``payload`` to bench/results/NAME.json and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
