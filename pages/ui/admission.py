"""Admission control: how many sessions' page runs go on at once in this process.

Streamlit runs each session's script in its own thread, and the event loop thread sends
every run's messages; all of them share one GIL. When a class clicks the same preset, a
hundred reruns start within two seconds. All runnable at once, they took turns on the
GIL every half millisecond (see :mod:`.interpreter`): the switching cost about a third
more CPU per rerun, and the event loop, starved, sent most results only after nearly
every run had ended (bench/load_test.py; a timeline of the burst put the median run's
end 2.6 s before its result left the server). A gate with one place serves the runs in
arrival order and leaves the event loop the other half of the GIL. Python work gains
nothing from a second place: the GIL runs one thread at a time, and a probe's torch
kernels already use every core. If the gate does not move for :data:`STALL_S` (a run
holding its place far too long), the waiters go ahead without one, so a stuck run slows
the others down but never stops them.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SLOTS", "STALL_S", "FairGate", "render_slot"]


def _slots() -> int:
    """``DROPLAB_RENDER_SLOTS`` (0: no gate); 1 if unset."""
    configured = os.environ.get("DROPLAB_RENDER_SLOTS", "").strip()
    if not configured:
        return 1
    if not configured.isdigit():
        raise ValueError(f"DROPLAB_RENDER_SLOTS must be a whole number >= 0, got {configured!r}")
    return int(configured)


class FairGate:
    """A counting semaphore that serves waiters in arrival order.

    ``threading.Semaphore`` lets a thread that arrives just as a place frees up take it
    before the threads already waiting: under a burst the first to click were served
    last. Here a freed place is handed straight to the longest waiter.
    """

    def __init__(self, places: int) -> None:
        if places < 1:
            raise ValueError(f"a gate needs at least one place, got {places}")
        self._lock = threading.Lock()
        self._free = places
        self._waiters: deque[threading.Event] = deque()
        self._moved = time.monotonic()  # when a place was last taken or given back

    def acquire(self, stall_s: float) -> bool:
        """Take a place; whether one was taken.

        Waits as long as the queue moves: only when no place has been taken or given
        back for ``stall_s`` seconds (a run that holds it far too long) does the waiter
        give up. A timeout on the wait itself would release a long but moving queue all
        at once, exactly when it is longest.
        """
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                self._moved = time.monotonic()
                return True
            handed = threading.Event()
            self._waiters.append(handed)
        while True:
            with self._lock:
                if handed.is_set():  # handed over just now
                    return True
                still = time.monotonic() - self._moved
                if still >= stall_s:
                    self._waiters.remove(handed)
                    return False
            if handed.wait(stall_s - still):
                return True

    def release(self) -> None:
        """Give the place back, to the longest waiter if there is one."""
        with self._lock:
            self._moved = time.monotonic()
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._free += 1


SLOTS = _slots()
STALL_S = 5.0
_gate = FairGate(max(SLOTS, 1))


_held = threading.local()  # how deep this thread is in render_slot blocks


@contextmanager
def render_slot(stall_s: float = STALL_S) -> Iterator[bool]:
    """Hold one of :data:`SLOTS` places while the block runs; yields whether it got one.

    Waiting releases the GIL. A waiter gives up and runs without a place (yielding False)
    only if the gate did not move for ``stall_s`` seconds; every run does when
    :data:`SLOTS` is 0. A block inside another on the same thread (a fragment drawn by
    a fragment) runs under the outer block's place: it neither waits nor counts twice.
    """
    depth = getattr(_held, "depth", 0)
    if depth:
        _held.depth = depth + 1
        try:
            yield _held.got
        finally:
            _held.depth = depth
        return
    got = SLOTS > 0 and _gate.acquire(stall_s)
    _held.depth, _held.got = 1, got
    try:
        yield got
    finally:
        _held.depth = 0
        if got:
            _gate.release()
