"""Shared benchmark plumbing: steady-state medians and JSON output."""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch
import torch.utils.benchmark as tb

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = [
    "RESULTS",
    "environment",
    "interleaved_medians",
    "median_seconds",
    "training_in_background",
    "write_json",
]


def median_seconds(fn: Callable[[], object], min_run_time: float = 1.0) -> float:
    """Median wall time of ``fn`` in a steady-state loop (torch.utils.benchmark).

    Each candidate runs in its own block, so the allocator reaches the same steady state
    a training loop sees; CUDA work is synchronised by the Timer.
    """
    fn()  # warm-up: first-call allocations and lazy initialisation
    timer = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def interleaved_medians(
    candidates: Mapping[str, Callable[[], object]],
    rounds: int = 5,
    min_run_time: float = 0.2,
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
        for name in names[r % len(names) :] + names[: r % len(names)]:
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


@contextlib.contextmanager
def training_in_background(train_size: int = 1000, epochs: int = 10) -> Iterator[None]:
    """Keep one training run going for the duration of the block, as the Train page runs
    it (a ``RunManager`` with one niced worker process, results in a throw-away cache).

    Returns once the worker is really training (past its first batches); when a run
    finishes before the block ends, the next seed starts. The run in progress is cancelled
    at the end.
    """
    from dropcore.train import RunCache, RunConfig, RunManager

    with tempfile.TemporaryDirectory(prefix="droplab-bg-train-") as root:
        manager = RunManager(RunCache(root))  # the Train page's (the defaults)
        stop = threading.Event()
        started = threading.Event()

        def keep_training() -> None:
            seed = 0
            while not stop.is_set():
                config = RunConfig(
                    train_size=train_size, epochs=epochs, method="drop_block", p=0.1, seed=seed
                )
                manager.submit(config, "bench")
                while not stop.is_set() and not manager.status(config).finished:
                    if manager.status(config).fraction > 0.02:
                        started.set()
                    time.sleep(0.5)
                seed += 1

        thread = threading.Thread(target=keep_training, daemon=True)
        thread.start()
        try:
            started.wait(timeout=300)
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
            manager.close()
