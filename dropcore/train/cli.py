"""Command line: ``python -m dropcore.train run --method drop_block --p 0.1 ...``.

Every :class:`RunConfig` field is an option (``--train-size 2000``, ``--stages layer3
layer4``, ``--schedule``); results go to the run cache (``--root`` or ``$DROPLAB_RUNS``)
unless ``--no-cache``; ``--json`` prints the result as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from typing import Any

import torch

from .allocator import pin_malloc_thresholds
from .cache import RunCache
from .config import RunConfig
from .loop import Progress, train
from .worker import compute, serve

__all__ = ["main"]


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        default: Any = f.default
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(kind) is tuple:
            parser.add_argument(
                flag, nargs="+", default=list(default), type=int if f.name == "widths" else str
            )
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(kind), default=default)
        else:
            parser.add_argument(flag, type=kind, default=default)


def _config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)})


def _print_progress(p: Progress) -> None:
    if p.record is None:
        return
    r = p.record
    dropped = ", ".join(f"{k} {v:.3f}" for k, v in list(r.dropped.items())[:4])
    print(
        f"epoch {r.epoch:3d}  train loss {r.train_loss:.3f} acc {r.train_acc:.3f}  "
        f"eval-mode train acc {r.train_eval_acc:.3f}  val loss {r.val_loss:.3f} "
        f"acc {r.val_acc:.3f}  gap {r.gap:+.3f}  {r.seconds:.1f}s"
        + (f"  dropped: {dropped}" if dropped else ""),
        flush=True,
    )


def _run(args: argparse.Namespace) -> int:
    config = _config(args)
    print(f"run {config.key()}: {config.label()}", flush=True)
    if args.no_cache:
        result = train(config, device=args.device, progress=_print_progress).result
    else:
        cache = RunCache(args.root)
        outcome = compute(cache, config, args.device)
        if outcome == "busy":
            print(
                "another process is computing this run; its progress is in "
                f"{cache.live(config, '.jsonl')}",
                file=sys.stderr,
            )
            return 3
        found = cache.result(config)
        if found is None:
            print(f"run {outcome}: " + json.dumps(cache.progress(config)[-1:]), file=sys.stderr)
            return 1
        result = found
        if outcome == "cached":
            print(f"from the cache ({cache.entry(config)})")
        else:
            for r in result.epochs:
                _print_progress(Progress(0, 0, r.epoch, r, 0.0))
        print(f"weights: {cache.weights_path(config)}")
    print(
        f"test acc {result.test_acc:.4f}  best val acc {result.best_val_acc:.4f} "
        f"(epoch {result.best_epoch})  {result.seconds:.1f}s"
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dropcore.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m dropcore.train", description="Train a small ResNet with a regularizer."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one configuration (cached)")
    _add_config_options(run)
    run.add_argument("--root", default=None, help="run cache directory ($DROPLAB_RUNS)")
    run.add_argument("--no-cache", action="store_true", help="train without the cache")
    run.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    worker = sub.add_parser("worker", help="background worker (used by RunManager)")
    worker.add_argument("--root", required=True)
    worker.add_argument("--nice", type=int, default=10)
    worker.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    # This process trains: keep its heap from being trimmed and regrown every step.
    pin_malloc_thresholds()
    if args.command == "worker":
        serve(args.root, args.nice, args.threads)
        return 0
    try:
        return _run(args)
    except ValueError as err:
        parser.error(str(err))
    return 2
