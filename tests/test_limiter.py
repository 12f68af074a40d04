"""The probe's compute limiter: capacity and first-come, first-served order."""

from __future__ import annotations

import threading
import time

import pytest

from dropcore.probe.limiter import ComputeSlots


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


def test_waiters_are_served_in_arrival_order() -> None:
    slots = ComputeSlots(1)
    order: list[int] = []

    def worker(i: int) -> None:
        with slots.hold():
            order.append(i)

    with slots.hold():
        threads = []
        for i in range(6):
            t = threading.Thread(target=worker, args=(i,))
            t.start()
            threads.append(t)
            # Each thread must be queued before the next one arrives.
            _wait_until(lambda n=i + 1: slots._issued == n + 1)
    for t in threads:
        t.join(timeout=10)
    assert order == list(range(6))


@pytest.mark.parametrize("entry", ["hold", "run"])
@pytest.mark.parametrize("capacity", [1, 2, 3])
def test_never_more_at_once_than_slots(capacity: int, entry: str) -> None:
    slots = ComputeSlots(capacity)
    active, peak = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1

    def worker() -> None:
        if entry == "run":
            slots.run(work)
            return
        with slots.hold():
            work()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert peak == capacity


def test_bad_capacity() -> None:
    with pytest.raises(ValueError, match="slots"):
        ComputeSlots(0)


def test_run_reuses_one_long_lived_thread_per_slot() -> None:
    slots = ComputeSlots(1)
    seen: list[int] = []
    for _ in range(3):
        # Each call comes from a new thread, as each Streamlit rerun does.
        t = threading.Thread(target=lambda: seen.append(slots.run(threading.get_ident)))
        t.start()
        t.join(timeout=10)
    assert len(seen) == 3 and len(set(seen)) == 1
    assert seen[0] != threading.get_ident()


def test_run_carries_grad_and_inference_modes() -> None:
    import torch

    slots = ComputeSlots(1)

    def modes() -> tuple[bool, bool]:
        return torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    assert slots.run(modes) == (True, False)
    with torch.no_grad():
        assert slots.run(modes) == (False, False)
    with torch.inference_mode():
        assert slots.run(modes) == (False, True)


def test_run_reraises_and_frees_the_slot() -> None:
    slots = ComputeSlots(1)

    def boom() -> None:
        raise KeyError("bad draw")

    with pytest.raises(KeyError, match="bad draw"):
        slots.run(boom)
    assert slots.run(lambda: 7) == 7  # the slot was given back
