"""Live-probe timings vs a plain torchvision forward + backward, measured in one run.

Figures (medians, seconds), per device (CPU, and CUDA when present):

* ``plain_fwd_bwd``: ``model(x)`` on an input that requires grad, then ``backward()`` of
  the top logit: the cost of a standard (hook-based) Grad-CAM of one image.
* ``plain_fwd``: ``model(x)`` under ``no_grad`` (for scale).
* ``probe_1``: one interaction on a picture seen for the first time: ``probe(samples=1)``:
  prefix, baseline and one draw, both CAMs, every site recorded.
* ``probe_1_reused``: one interaction on a picture seen before (a slider or seed step):
  the same with a warm :class:`~dropcore.probe.InputStore`, which supplies the prefix and
  the baseline, as a server's ``cached_probe`` does.
* ``probe_32``: ``probe(samples=32)`` (batched, chunked).
* ``probe_1_x32``: 32 sequential ``probe(samples=1)`` calls (results dropped at once, as
  a page would).

Targets: ``probe_1 / plain_fwd_bwd <= 1.5`` and ``probe_1_x32 / probe_32 >= 5``.

Run: ``python bench/bench_probe.py [--model resnet50] [--size 224] [--reps 7]
[--stages layer3 layer4]``. Writes ``bench/results/bench_probe.json`` (or
``bench_probe_<stages>.json`` for other stages). Random-init weights: the cost does not depend
on the values.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models
from dropcore.probe import InputStore, ProbeSettings, probe, probe_key

RESULTS = Path(__file__).resolve().parent / "results"


def median_times(
    fns: dict[str, Callable[[], object]], reps: dict[str, int], device: torch.device
) -> dict[str, float]:
    """Median wall time of each function, measured round-robin so that a change in machine
    load hits every figure alike; one warm-up call each first (the CPU backend builds its
    conv kernels per input shape on first use)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns.values():
        fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(max(reps.values())):
        for name, fn in fns.items():
            if rep < reps[name]:
                start = time.perf_counter()
                fn()
                sync()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_device(
    name: str, size: int, reps: int, device: torch.device, settings: ProbeSettings
) -> dict[str, float]:
    model = models.load(name, "random", str(device)).model
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)

    def plain_fwd_bwd() -> None:
        logits = model(x.clone().requires_grad_())
        logits[0, logits[0].argmax()].backward()

    def plain_fwd() -> None:
        with torch.no_grad():
            model(x)

    def sequential() -> None:
        for seed in range(32):
            probe(model, x, settings, seed=seed, samples=1)

    key = probe_key(model, x, settings)
    store = InputStore(max_bytes=2**30)
    seeds = iter(range(1, 1 << 30))

    def reused() -> None:  # a new seed each time: only the draw is new
        probe(model, x, settings, seed=next(seeds), reuse=store.reuse(key.model, key.image))

    fns: dict[str, Callable[[], object]] = {
        "plain_fwd_bwd": plain_fwd_bwd,
        "plain_fwd": plain_fwd,
        "probe_1": lambda: probe(model, x, settings, samples=1),
        "probe_1_reused": reused,
        "probe_32": lambda: probe(model, x, settings, samples=32),
        "probe_1_x32": sequential,
    }
    heavy = max(1, reps // 2)
    counts = {key: heavy if key in ("probe_32", "probe_1_x32") else reps for key in fns}
    figures = median_times(fns, counts, device)
    figures["ratio_probe_1_vs_plain_fwd_bwd"] = figures["probe_1"] / figures["plain_fwd_bwd"]
    figures["ratio_probe_1_reused_vs_plain_fwd"] = figures["probe_1_reused"] / figures["plain_fwd"]
    figures["ratio_sequential_vs_batched_32"] = figures["probe_1_x32"] / figures["probe_32"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50", choices=models.MODEL_NAMES)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--stages",
        nargs="+",
        default=["layer3", "layer4"],
        help="stages to inject DropBlock into (default: the paper's layer3 layer4)",
    )
    args = parser.parse_args()
    # The paper's setting: DropBlock 7, keep_prob 0.9, on branch and shortcut.
    settings = ProbeSettings(stages=tuple(args.stages))
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": args.model,
        "size": args.size,
        "settings": repr(settings),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        # Other processes on the machine skew every figure; the load says how much.
        "load_avg_1min_before": os.getloadavg()[0],
        "results": {},
    }
    for device in devices:
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        figures = bench_device(args.model, args.size, args.reps, device, settings)
        report["results"][device.type] = {"device": label, **figures}
        print(
            f"\n{args.model} {args.size}x{args.size} on {label} "
            f"({torch.get_num_threads()} CPU threads), DropBlock on {settings.stages}, medians:"
        )
        for key, value in figures.items():
            unit = "x" if key.startswith("ratio") else " s"
            print(f"  {key:34s} {value:8.3f}{unit}")
        print(
            f"  target: probe_1 <= 1.5x plain_fwd_bwd -> "
            f"{'met' if figures['ratio_probe_1_vs_plain_fwd_bwd'] <= 1.5 else 'NOT met'}; "
            f"32 sequential >= 5x batched -> "
            f"{'met' if figures['ratio_sequential_vs_batched_32'] >= 5 else 'NOT met'}"
        )
    report["load_avg_1min_after"] = os.getloadavg()[0]
    print(
        f"\n1-min load average: {report['load_avg_1min_before']:.2f} before, "
        f"{report['load_avg_1min_after']:.2f} after ({os.cpu_count()} CPUs)"
    )
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if settings.stages == ("layer3", "layer4") else "_" + "_".join(settings.stages)
    out = RESULTS / f"bench_probe{suffix}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
