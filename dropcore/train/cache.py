"""The on-disk run cache: results and weights under a key of the whole configuration.

Layout of ``root`` (a local directory, or a volume shared by several replicas)::

    runs/<key>/result.json, weights.pt   finished runs (a directory appears whole or not at all)
    live/<key>.jsonl                     progress of the run in flight (one JSON line a report)
    live/<key>.lock                      held (flock) by the process computing <key>
    live/<key>.cancel                    present: the computing process stops

A finished run is written into a temporary directory and renamed into place, so a cancelled
or crashed run leaves no half-written entry; the lock is an OS file lock, released by the
kernel if its holder dies, so a crashed run never blocks the key.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from .config import RunConfig
from .loop import TrainedRun
from .result import RunResult

__all__ = ["RunCache", "default_root"]


def default_root() -> Path:
    """``$DROPLAB_RUNS``, else ``~/.cache/droplab/runs`` (``$XDG_CACHE_HOME`` honoured)."""
    env = os.environ.get("DROPLAB_RUNS", "").strip()
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "droplab" / "runs"


class RunCache:
    """Finished runs by configuration key, plus the live files of runs in flight."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        (self.root / "runs").mkdir(parents=True, exist_ok=True)
        (self.root / "live").mkdir(parents=True, exist_ok=True)

    # -- finished runs ---------------------------------------------------------------
    def entry(self, config: RunConfig) -> Path:
        """Directory of ``config``'s finished run (it may not exist)."""
        return self.root / "runs" / config.key()

    def has(self, config: RunConfig) -> bool:
        """True when ``config`` has a finished run here."""
        return (self.entry(config) / "result.json").is_file()

    def result(self, config: RunConfig) -> RunResult | None:
        """The finished run's result, or None."""
        path = self.entry(config) / "result.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return RunResult.from_dict(data)

    def weights_path(self, config: RunConfig) -> Path:
        """Path of the finished run's weights (``torch.load(..., weights_only=True)``)."""
        return self.entry(config) / "weights.pt"

    def weights(self, config: RunConfig) -> dict[str, torch.Tensor]:
        """The finished run's final ``state_dict`` (plain model, CPU tensors)."""
        return torch.load(self.weights_path(config), map_location="cpu", weights_only=True)

    def store(self, run: TrainedRun) -> Path:
        """Write ``run`` atomically; if another process stored the same key first, keep
        theirs (same config, same result). Returns the entry's directory."""
        final = self.entry(run.result.config)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root / "runs"))
        try:
            torch.save(run.state_dict, tmp / "weights.pt")
            with open(tmp / "result.json", "w") as f:
                json.dump(run.result.to_dict(), f, indent=1, allow_nan=True)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.rename(tmp, final)
            except OSError:  # already there (a concurrent identical run won the race)
                if not (final / "result.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def results(self) -> Iterator[RunResult]:
        """Every finished run here (for listings; unreadable entries are skipped)."""
        for path in sorted((self.root / "runs").glob("*/result.json")):
            try:
                yield RunResult.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                continue

    # -- runs in flight --------------------------------------------------------------
    def live(self, config: RunConfig, suffix: str) -> Path:
        """``live/<key><suffix>`` (``.jsonl``, ``.lock``, ``.cancel``)."""
        return self.root / "live" / f"{config.key()}{suffix}"

    @contextmanager
    def claim(self, config: RunConfig) -> Iterator[bool]:
        """Try to become the one process computing ``config``; yields False if another
        holds it. The claim ends with the block (or the process)."""
        with open(self.live(config, ".lock"), "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_claimed(self, config: RunConfig) -> bool:
        """True while some process computes ``config``."""
        with self.claim(config) as mine:
            return not mine

    def start_progress(self, config: RunConfig) -> IO[str]:
        """A fresh progress file for ``config`` (line-buffered); the caller closes it."""
        self.live(config, ".cancel").unlink(missing_ok=True)
        return open(self.live(config, ".jsonl"), "w", buffering=1)

    def progress(self, config: RunConfig) -> list[dict[str, Any]]:
        """The progress reports of ``config``'s run in flight (or its last one)."""
        try:
            lines = self.live(config, ".jsonl").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:  # a line being written right now
                break
        return out

    def request_cancel(self, config: RunConfig) -> None:
        """Ask whichever process computes ``config`` to stop."""
        self.live(config, ".cancel").touch()

    def cancel_requested(self, config: RunConfig) -> bool:
        """True when a stop was asked for ``config``."""
        return self.live(config, ".cancel").exists()
