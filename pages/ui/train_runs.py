"""The Train page's view of the training engine: one shared manager, this session's runs.

The page never trains: it asks the process-wide :class:`RunManager` (background worker
processes, one run at a time, lower CPU priority) and reads statuses, which never block.
Many sessions asking for the same run share one computation through the run cache.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import streamlit as st

from dropcore.train import RunCache, RunConfig, RunManager, RunResult, RunStatus, default_root

__all__ = ["Board", "asked_here", "board", "cancel", "run_cache", "run_manager", "submit"]

ACTIVE = ("queued", "running", "elsewhere")


@st.cache_resource(show_spinner=False)
def _manager(root: str) -> RunManager:
    # Keyed by the cache directory, so a server (or a test) that points DROPLAB_RUNS
    # elsewhere gets a manager of its own.
    return RunManager(RunCache(root))  # one niced worker, one torch thread (the defaults)


def run_manager() -> RunManager:
    """The process-wide manager of the run cache in ``$DROPLAB_RUNS`` (or the default)."""
    return _manager(str(default_root()))


def run_cache() -> RunCache:
    """The run cache the manager writes to."""
    return run_manager().cache


def _watcher() -> str:
    # One id per browser session: a run stops when every session that asked for it cancels.
    if "_train_watcher" not in st.session_state:
        st.session_state["_train_watcher"] = uuid.uuid4().hex
    return str(st.session_state["_train_watcher"])


def submit(configs: Sequence[RunConfig]) -> None:
    """Ask for every run (cached ones are served, running ones joined, others queued)."""
    manager, who = run_manager(), _watcher()
    asked = st.session_state.setdefault("_train_asked", set())
    for cfg in configs:
        manager.submit(cfg, who)
        asked.add(cfg.key())


def asked_here(config: RunConfig) -> bool:
    """Whether this session asked for ``config``'s run (else a finished run is, for this
    person, one from the cache, even if it finished on this server a minute ago)."""
    return config.key() in st.session_state.get("_train_asked", set())


def cancel(configs: Sequence[RunConfig]) -> None:
    """This session no longer wants these runs (each stops when nobody else wants it)."""
    manager, who = run_manager(), _watcher()
    for cfg in configs:
        manager.cancel(cfg, who)


@dataclass(frozen=True)
class Board:
    """The statuses of a plan's runs, and what they add up to (``shipped``: the keys whose
    result is one the project ships, not a run of this server: it has no weights)."""

    statuses: dict[str, RunStatus]
    shipped: frozenset[str] = frozenset()
    epochs: dict[str, int] = field(default_factory=dict)  # key -> epochs the run trains

    def of(self, config: RunConfig) -> RunStatus:
        """The status of one run."""
        return self.statuses[config.key()]

    @property
    def counts(self) -> Counter[str]:
        """How many runs are in each state."""
        return Counter(s.state for s in self.statuses.values())

    @property
    def active(self) -> bool:
        """Some run is queued or training (here or on another replica)."""
        return any(s.state in ACTIVE for s in self.statuses.values())

    @property
    def complete(self) -> bool:
        """Every run has its result."""
        return all(s.result is not None for s in self.statuses.values())

    @property
    def fraction(self) -> float:
        """Share of the plan's training steps done (finished runs count whole)."""
        if not self.statuses:
            return 0.0
        done = sum(1.0 if s.result is not None else s.fraction for s in self.statuses.values())
        return done / len(self.statuses)

    @property
    def queue_position(self) -> int | None:
        """Runs of other people ahead of this plan's first queued run (None: none queued)."""
        queued = [s.position for s in self.statuses.values() if s.state == "queued"]
        return min(queued) if queued else None

    def eta_s(self) -> float | None:
        """Seconds until every active run is done: each running run's time left plus, for
        each queued run, the length of a run as measured so far (None before any)."""
        running = {k: s for k, s in self.statuses.items() if s.state in ("running", "elsewhere")}
        lengths = [s.result.seconds for s in self.statuses.values() if s.result is not None]
        lengths += [n for n in (self._length(k, s) for k, s in running.items()) if n is not None]
        left = [self._left(k, s) for k, s in running.items()]
        queued = sum(1 for s in self.statuses.values() if s.state == "queued")
        if any(t is None for t in left) or (queued and not lengths):
            return None
        typical = sum(lengths) / len(lengths) if lengths else 0.0
        return sum(t for t in left if t is not None) + queued * typical

    def _pace(self, key: str, s: RunStatus) -> float | None:
        # Seconds per epoch so far: epoch records include the evaluation that the step
        # counts of the progress reports leave out.
        if s.epochs and key in self.epochs:
            return sum(e.seconds for e in s.epochs) / len(s.epochs)
        return None

    def _length(self, key: str, s: RunStatus) -> float | None:
        pace = self._pace(key, s)
        if pace is not None:
            return pace * self.epochs[key]
        if s.eta_s is not None and s.fraction < 1:
            return s.eta_s / (1 - s.fraction)  # elapsed + left, from the steps
        return None

    def _left(self, key: str, s: RunStatus) -> float | None:
        pace = self._pace(key, s)
        if pace is not None:
            return max(self.epochs[key] - len(s.epochs), 0) * pace
        return s.eta_s

    def results(self, configs: Sequence[RunConfig]) -> list[RunResult]:
        """The finished results among ``configs``."""
        return [r for r in (self.of(cfg).result for cfg in configs) if r is not None]


def board(configs: Sequence[RunConfig]) -> Board:
    """The statuses of ``configs`` now (reads the cache and the live progress files)."""
    manager = run_manager()
    return Board(
        {cfg.key(): manager.status(cfg) for cfg in configs},
        epochs={cfg.key(): cfg.epochs for cfg in configs},
    )
