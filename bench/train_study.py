"""The README's results table: keep_prob sweep per method, block sizes, schedule vs fixed,
3 seeds each, at the lesson size, through the run cache (reruns cost nothing).

    python bench/train_study.py [--seeds 3] [--workers 2] [--size lesson] [--json out.json]

Runs go through :class:`RunManager` (background worker processes, one torch thread each);
the table prints mean ± sd over seeds of best and final validation accuracy, test
accuracy, the train-val gap (eval mode) and the fraction actually dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dropcore import drop_probability  # noqa: E402
from dropcore.probe.settings import Method  # noqa: E402
from dropcore.train import RunCache, RunConfig, RunManager, RunResult  # noqa: E402
from dropcore.train.presets import SIZES  # noqa: E402
from dropcore.train.summary import summarize  # noqa: E402

SWEEPS: dict[Method, tuple[float, ...]] = {
    "dropout": (0.9, 0.7, 0.5),
    "spatial_dropout": (0.95, 0.9, 0.8),
    "drop_block": (0.95, 0.9, 0.8),
    "drop_path": (0.9, 0.8),
    "drop_connect": (0.9, 0.7),
}


def variants(base: RunConfig) -> dict[str, RunConfig]:
    """Label -> config (seed 0) of every arm of the study, in table order."""
    out = {"none": replace(base, method="none")}
    for method, keeps in SWEEPS.items():
        for keep in keeps:
            out[f"{method} keep {keep}"] = replace(base, method=method, p=drop_probability(keep))
    for bs in (1, 3, 5):
        out[f"drop_block keep 0.9 block {bs}"] = replace(
            base, method="drop_block", p=0.1, block_size=bs
        )
    out["drop_block keep 1.0 -> 0.9 (scheduled)"] = replace(
        base, method="drop_block", p=0.1, schedule=True
    )
    return out


# Computed first: the paper setting of every method, the block sizes and the schedule, so
# a study cut short still answers the main questions.
_FIRST = (
    "none",
    "dropout keep 0.7",
    "spatial_dropout keep 0.9",
    "drop_block keep 0.9",
    "drop_path keep 0.9",
    "drop_connect keep 0.9",
    "drop_block keep 0.9 block 1",
    "drop_block keep 0.9 block 3",
    "drop_block keep 0.9 block 5",
    "drop_block keep 1.0 -> 0.9 (scheduled)",
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", default="lesson", choices=tuple(SIZES))
    ap.add_argument("--json", default=None, help="write every result here")
    args = ap.parse_args()
    base = RunConfig(**SIZES[args.size])
    arms = {
        label: [replace(c, seed=s) for s in range(args.seeds)]
        for label, c in variants(base).items()
    }
    manager = RunManager(RunCache(), workers=args.workers, niceness=5, threads=1)
    order = [*_FIRST, *(label for label in arms if label not in _FIRST)]
    todo = [c for label in order for c in arms[label]]
    for c in todo:
        manager.submit(c, "study")
    start = time.time()
    while True:
        states = [manager.status(c) for c in todo]
        done = sum(s.finished for s in states)
        print(f"[{time.time() - start:6.0f}s] {done}/{len(todo)} finished", flush=True)
        if done == len(todo):
            break
        time.sleep(20)
    manager.close()
    results: dict[str, list[RunResult]] = {}
    for label, cs in arms.items():
        results[label] = [r for r in (manager.cache.result(c) for c in cs) if r is not None]
    print(
        f"\n{args.size}: {base.train_size} images x {base.epochs} epochs, "
        f"{args.seeds} seeds, mean ± sd\n"
    )
    print("| variant | best val acc | final val acc | test acc | gap (train-val) | dropped |")
    print("|---|---|---|---|---|---|")
    for row in summarize(results):
        print(
            f"| {row.label} | {row.best_val_acc} | {row.final_val_acc} | {row.test_acc} | "
            f"{row.gap} | {row.dropped.mean:.3f} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {label: [r.to_dict() for r in rs] for label, rs in results.items()}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
