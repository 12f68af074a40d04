"""Interpreter settings of the server process that the pages depend on for latency."""

from __future__ import annotations

import sys

__all__ = ["GIL_SWITCH_S", "tune_interpreter"]

# Every torch call releases the GIL. With another thread runnable (the event loop sending
# the last run's messages, other sessions' reruns), getting it back waits for Python's
# switch interval, 5 ms by default: 40 tensor copies of 0.2 ms took 21-420 ms beside one
# busy thread. At 0.5 ms the same copies take 0.2-2 ms; the price, more frequent switches
# between Python threads, is a few microseconds each.
GIL_SWITCH_S = 0.0005


def tune_interpreter() -> None:
    """Set the switch interval (idempotent and cheap: pages may call it on every run)."""
    if sys.getswitchinterval() != GIL_SWITCH_S:
        sys.setswitchinterval(GIL_SWITCH_S)
