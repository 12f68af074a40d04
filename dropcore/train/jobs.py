"""Training in the background of a server: bounded worker processes, a shared queue,
single-flight per configuration, cancellation, and progress for every watcher.

Worker processes run at a lower CPU priority (``nice``) than the server, so an interactive
page never waits behind an epoch; they only talk to the server through the cache
directory and one line per finished run, so a crashed worker costs its run, nothing else.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .cache import RunCache
from .config import RunConfig
from .result import EpochRecord, RunResult

__all__ = ["RunManager", "RunStatus", "State"]

State = Literal[
    "cached",
    "queued",
    "running",
    "elsewhere",
    "done",
    "failed",
    "cancelled",
    "absent",
]


@dataclass(frozen=True)
class RunStatus:
    """What a watcher of one configuration sees now.

    Attributes:
        state: ``"cached"`` (finished before it was asked for), ``"done"`` (finished
            since), ``"queued"`` (``position`` runs ahead of it), ``"running"``,
            ``"elsewhere"`` (another process or replica computes it), ``"failed"``,
            ``"cancelled"``, ``"absent"`` (never asked for here, not in the cache).
        fraction: share of the steps done (1.0 when finished).
        eta_s: estimated seconds left (None when unknown).
        epochs: the records of the epochs finished so far.
        result: the result once finished.
        error: the failure message.
    """

    state: State
    fraction: float = 0.0
    eta_s: float | None = None
    position: int = 0
    epochs: tuple[EpochRecord, ...] = ()
    result: RunResult | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        """True when the run will not change any more."""
        return self.state in ("cached", "done", "failed", "cancelled")


@dataclass
class _Job:
    config: RunConfig
    watchers: set[str] = field(default_factory=set)
    state: State = "queued"
    error: str = ""


class _Worker:
    """One background worker process and the key it is computing."""

    def __init__(self, root: str, niceness: int, threads: int, on_line: Any) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dropcore.train",
                "worker",
                "--root",
                root,
                "--nice",
                str(niceness),
                "--threads",
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            # Idle OpenMP threads sleep instead of spinning on cores the server needs.
            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        self.key: str | None = None
        threading.Thread(target=self._read, args=(on_line,), daemon=True).start()

    def _read(self, on_line: Any) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                on_line(self, parts[0], parts[1])
        on_line(self, None, "exited")

    def give(self, config: RunConfig) -> None:
        assert self.proc.stdin is not None
        self.key = config.key()
        self.proc.stdin.write(json.dumps(config.to_dict()) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class RunManager:
    """Queue and run training configurations in background worker processes.

    Args:
        cache: where results go (shared by every manager, process and replica using it).
        workers: concurrent runs (worker processes, started on demand).
        niceness: CPU priority offset of the workers (higher = lower priority).
        threads: torch threads per worker (0: torch's default). One by default: on a
            2-core server a default run (2,000 images x 15 epochs, DropBlock) took 36 s
            with one thread against 46 s with torch's two (their idle threads sleep
            rather than spin on the pages' cores, and waking them costs more than it
            gains at this network's size), and a worker then leaves a core to the pages.
            One thread is also how the shipped results were computed.
    """

    def __init__(
        self, cache: RunCache, *, workers: int = 1, niceness: int = 10, threads: int = 1
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self.cache = cache
        self.max_workers = workers
        self.niceness = niceness
        self.threads = threads
        self._jobs: dict[str, _Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._workers: list[_Worker] = []
        self._lock = threading.RLock()

    # -- public ------------------------------------------------------------------------
    def submit(self, config: RunConfig, watcher: str = "") -> RunStatus:
        """Ask for ``config``'s run on behalf of ``watcher``: served from the cache, joined
        if already queued or running, else queued. Returns its status now."""
        with self._lock:
            job = self._jobs.get(config.key())
            if job is None or job.state in ("failed", "cancelled"):
                if self.cache.has(config):
                    return self.status(config)
                job = _Job(config)
                self._jobs[config.key()] = job
                self._queue.append(config.key())
            job.watchers.add(watcher)
            self._dispatch()
            return self.status(config)

    def status(self, config: RunConfig) -> RunStatus:
        """What ``config``'s run looks like now (never blocks on training)."""
        with self._lock:
            job = self._jobs.get(config.key())
            if job is not None and job.state == "queued":
                return RunStatus("queued", position=self._queue.index(config.key()))
            if job is not None and job.state in ("failed", "cancelled"):
                return RunStatus(job.state, epochs=self._epochs(config), error=job.error)
        result = self.cache.result(config)
        if result is not None:
            state: State = "done" if job is not None else "cached"
            return RunStatus(state, 1.0, 0.0, epochs=result.epochs, result=result)
        if job is None:
            return (
                self._running(config, "elsewhere")
                if self.cache.is_claimed(config)
                else RunStatus("absent")
            )
        return self._running(config, job.state)

    def cancel(self, config: RunConfig, watcher: str = "") -> None:
        """``watcher`` no longer wants the run; it stops when nobody does."""
        with self._lock:
            job = self._jobs.get(config.key())
            if job is None or job.state not in ("queued", "running", "elsewhere"):
                return
            job.watchers.discard(watcher)
            if job.watchers:
                return
            if job.state == "queued":
                self._queue.remove(config.key())
            else:
                self.cache.request_cancel(config)
            job.state = "cancelled"

    def close(self) -> None:
        """Stop every worker process (running runs are lost, never half-stored)."""
        with self._lock:
            workers, self._workers = self._workers, []
            self._queue.clear()
        for w in workers:
            w.stop()

    # -- internals ---------------------------------------------------------------------
    def _dispatch(self) -> None:
        self._workers = [w for w in self._workers if w.proc.poll() is None]
        idle = [w for w in self._workers if w.key is None]
        while self._queue and (idle or len(self._workers) < self.max_workers):
            worker = idle.pop() if idle else self._spawn()
            job = self._jobs[self._queue.popleft()]
            job.state = "running"
            worker.give(job.config)

    def _spawn(self) -> _Worker:
        worker = _Worker(str(self.cache.root), self.niceness, self.threads, self._finished)
        self._workers.append(worker)
        return worker

    def _finished(self, worker: _Worker, key: str | None, outcome: str) -> None:
        with self._lock:
            job = self._jobs.get(worker.key or "")
            worker.key = None
            if job is not None and job.state == "running":
                if outcome == "busy":
                    job.state = "elsewhere"
                    threading.Thread(target=self._await_elsewhere, args=(job,), daemon=True).start()
                elif outcome in ("done", "cached"):
                    job.state = "done"
                elif outcome == "cancelled":
                    job.state = "cancelled"
                else:
                    job.state = "failed"
                    job.error = self._error(job.config) or f"worker {outcome}"
            if outcome == "exited":
                self._workers = [w for w in self._workers if w is not worker]
            self._dispatch()

    def _await_elsewhere(self, job: _Job) -> None:
        # Another process computes it: wait for its result, or retake it if it gave up.
        while self.cache.is_claimed(job.config):
            time.sleep(0.5)
        with self._lock:
            if job.state != "elsewhere":
                return
            if self.cache.has(job.config):
                job.state = "done"
            else:
                job.state = "queued"
                self._queue.append(job.config.key())
                self._dispatch()

    def _error(self, config: RunConfig) -> str:
        events = self.cache.progress(config)
        return next(
            (e.get("error", "") for e in reversed(events) if e.get("event") == "failed"), ""
        )

    def _epochs(self, config: RunConfig) -> tuple[EpochRecord, ...]:
        return tuple(
            EpochRecord(**e["record"])
            for e in self.cache.progress(config)
            if e.get("event") == "epoch"
        )

    def _running(self, config: RunConfig, state: State) -> RunStatus:
        events = self.cache.progress(config)
        epochs = tuple(EpochRecord(**e["record"]) for e in events if e.get("event") == "epoch")
        steps = [e for e in events if "step" in e]
        if not steps:
            return RunStatus(state, epochs=epochs)
        last = steps[-1]
        fraction = last["step"] / max(last["total"], 1)
        eta = last["elapsed"] * (1 - fraction) / fraction if fraction > 0 else None
        return RunStatus(state, fraction, eta, epochs=epochs)
