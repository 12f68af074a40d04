"""Process-wide compute slots, so concurrent probes do not oversubscribe the cores.

Each device type has a number of slots (env ``DROPLAB_PROBE_CONCURRENCY``, else 1 on the
CPU, where one probe already uses every intra-op thread, and 2 on CUDA). A probe holds a
slot per chunk of draws, not for its whole run, so a long Monte-Carlo run from one session
interleaves with the quick single-draw interactions of others.

:meth:`ComputeSlots.run` also moves the work onto the limiter's long-lived compute threads.
Streamlit runs every rerun in a new thread, and a new thread starts its own OpenMP team
with cold per-thread state: a ResNet-50 probe pass took about 8% more CPU there (0.154
against 0.143 CPU-s, median of 30 interleaved passes on 2 cores) than on a thread that had
run passes before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

__all__ = ["ComputeSlots", "compute_slots", "set_concurrency"]

_DEFAULTS = {"cpu": 1, "cuda": 2}
_MAX_THREADS = 64
T = TypeVar("T")


class ComputeSlots:
    """A counting limiter whose capacity can be changed while it is in use."""

    def __init__(self, slots: int) -> None:
        self._cond = threading.Condition()
        self._slots = _check_slots(slots)
        self._busy = 0
        # Tickets make the wait first-come, first-served: without them a thread woken for a
        # freed slot can lose it to a newcomer again and again (120 s tails at 32 sessions).
        self._issued = 0
        self._serving = 0
        # Threads are created on demand and kept; holders of a slot use at most ``slots``
        # of them at once, so a 1-slot limiter runs everything on one thread. (Beyond
        # _MAX_THREADS slots, the extra holders wait for a thread.)
        self._threads = ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="droplab-compute")

    @property
    def slots(self) -> int:
        """Number of holders allowed at once."""
        return self._slots

    def set_slots(self, slots: int) -> None:
        """Change the capacity; current holders keep their slot."""
        with self._cond:
            self._slots = _check_slots(slots)
            self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait (first come, first served) for a slot and hold it for the ``with`` body."""
        with self._cond:
            ticket = self._issued
            self._issued += 1
            while ticket != self._serving or self._busy >= self._slots:
                self._cond.wait()
            self._serving += 1
            self._busy += 1
            self._cond.notify_all()  # the next ticket may fit too when slots > 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a slot, on one of the limiter's long-lived compute threads.

        The caller's grad and inference modes (thread-local in torch) carry over, and an
        exception raised by ``fn`` is re-raised here. Generators and tensors are passed
        through ``fn``'s closure, so results are those of calling ``fn()`` directly.
        """
        grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
        with self.hold():
            return self._threads.submit(_in_modes, fn, grad, inference).result()


def _in_modes(fn: Callable[[], T], grad: bool, inference: bool) -> T:
    with torch.inference_mode(inference), torch.set_grad_enabled(grad):
        return fn()


def _check_slots(slots: object) -> int:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"slots must be an integer >= 1, got {slots!r}")
    return slots


def _default_slots(device_type: str) -> int:
    env = os.environ.get("DROPLAB_PROBE_CONCURRENCY", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"env DROPLAB_PROBE_CONCURRENCY must be an integer >= 1, got {env!r}")
        return int(env)
    return _DEFAULTS.get(device_type, 1)


_registry: dict[str, ComputeSlots] = {}
_registry_lock = threading.Lock()


def compute_slots(device: torch.device | str) -> ComputeSlots:
    """The shared limiter of ``device``'s type (created on first use)."""
    device_type = torch.device(device).type
    with _registry_lock:
        if device_type not in _registry:
            _registry[device_type] = ComputeSlots(_default_slots(device_type))
        return _registry[device_type]


def set_concurrency(slots: int, device: torch.device | str = "cpu") -> None:
    """Allow ``slots`` probe chunks at once on ``device``'s type."""
    compute_slots(device).set_slots(slots)
