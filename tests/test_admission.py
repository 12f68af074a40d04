"""The Playground's admission gate: arrival order, bounded waits, places given back."""

from __future__ import annotations

import threading
import time

import pytest

from pages.ui import admission
from pages.ui.admission import FairGate


def _wait_until(predicate: object, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


def test_waiters_are_served_in_arrival_order_even_against_late_arrivals() -> None:
    gate = FairGate(1)
    assert gate.acquire(stall_s=1)
    order: list[int] = []
    threads = []
    for i in range(6):

        def run(i: int = i) -> None:
            assert gate.acquire(stall_s=10)
            order.append(i)
            gate.release()

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        _wait_until(lambda n=i + 1: len(gate._waiters) == n)
    # A thread arriving as the place frees up must queue behind the six, not barge in.
    gate.release()
    assert gate.acquire(stall_s=10)
    order.append(99)
    gate.release()
    for t in threads:
        t.join(timeout=10)
    assert order == [0, 1, 2, 3, 4, 5, 99]


def test_a_waiter_behind_a_stuck_gate_gives_up_and_takes_no_place() -> None:
    gate = FairGate(1)
    assert gate.acquire(stall_s=1)
    t0 = time.monotonic()
    assert gate.acquire(stall_s=0.05) is False
    assert time.monotonic() - t0 >= 0.05
    assert not gate._waiters
    gate.release()
    assert gate.acquire(stall_s=0)  # the place is free again, not lost
    gate.release()
    assert gate._free == 1


def test_a_long_queue_that_moves_is_waited_out_past_the_stall_time() -> None:
    """Ten runs of 50 ms behind each other: the last waits ~0.5 s, over three times the
    stall time, and still gets its place in turn (a plain timeout on the wait would have
    let the tail of the queue in all at once)."""
    gate = FairGate(1)
    got: list[bool] = []

    def run() -> None:
        ok = gate.acquire(stall_s=0.15)
        got.append(ok)
        time.sleep(0.05)
        if ok:
            gate.release()

    assert gate.acquire(stall_s=1)
    threads = [threading.Thread(target=run) for _ in range(10)]
    for t in threads:
        t.start()
    _wait_until(lambda: len(gate._waiters) == 10)
    t0 = time.monotonic()
    gate.release()
    for t in threads:
        t.join(timeout=10)
    assert got == [True] * 10
    assert time.monotonic() - t0 >= 0.45


def test_places_bound_how_many_hold_the_gate_at_once() -> None:
    gate = FairGate(2)
    inside, peak, lock = [0], [0], threading.Lock()

    def run() -> None:
        assert gate.acquire(stall_s=10)
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.01)
        with lock:
            inside[0] -= 1
        gate.release()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert peak[0] == 2 and gate._free == 2


def test_a_gate_needs_a_place() -> None:
    with pytest.raises(ValueError, match="at least one place, got 0"):
        FairGate(0)


def test_render_slot_gives_the_place_back_when_the_run_is_interrupted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = FairGate(1)
    monkeypatch.setattr(admission, "_gate", gate)
    monkeypatch.setattr(admission, "SLOTS", 1)
    with pytest.raises(RuntimeError), admission.render_slot() as got:
        assert got
        raise RuntimeError("a rerun or stop exception ends the run early")
    with admission.render_slot(stall_s=0) as got_again:
        assert got_again


def test_a_run_behind_a_stuck_run_goes_ahead_without_a_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = FairGate(1)
    monkeypatch.setattr(admission, "_gate", gate)
    monkeypatch.setattr(admission, "SLOTS", 1)
    assert gate.acquire(stall_s=1)  # a very long run holds the only place
    with admission.render_slot(stall_s=0.02) as got:
        assert got is False
    gate.release()
    assert gate._free == 1  # the run without a place gave nothing back


def test_a_slot_inside_a_slot_runs_under_the_outer_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Playground's results fragment is drawn by its controls fragment: the inner
    block must neither queue behind its own thread (a deadlock with one place) nor give
    the place back early."""
    gate = FairGate(1)
    monkeypatch.setattr(admission, "_gate", gate)
    monkeypatch.setattr(admission, "SLOTS", 1)
    with admission.render_slot() as outer:
        with admission.render_slot(stall_s=0.05) as inner:
            assert outer is True and inner is True
        assert gate._free == 0  # the inner block gave nothing back
        others: list[bool] = []
        waiter = threading.Thread(target=lambda: others.append(gate.acquire(stall_s=0.05)))
        waiter.start()
        waiter.join(timeout=5)
        assert others == [False]  # another thread still finds the place taken
    assert gate._free == 1
    with admission.render_slot(stall_s=0) as again:  # the thread's depth was reset
        assert again is True


def test_zero_slots_switch_the_gate_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "SLOTS", 0)
    with admission.render_slot() as got:
        assert got is False


@pytest.mark.parametrize(("value", "slots"), [("", 1), ("0", 0), ("3", 3)])
def test_slots_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, slots: int
) -> None:
    monkeypatch.setenv("DROPLAB_RENDER_SLOTS", value)
    assert admission._slots() == slots


def test_a_bad_slot_count_names_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLAB_RENDER_SLOTS", "two")
    with pytest.raises(ValueError, match="'two'"):
        admission._slots()
