"""Run cache and background runs: hits, single-flight, cancellation, nothing half-written."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dropcore.train import RunCache, RunConfig, RunManager, compute, train
from dropcore.train.loop import Progress


def _entries(cache: RunCache) -> list[Path]:
    return sorted((cache.root / "runs").iterdir())


def test_compute_stores_once_and_serves_from_cache(cache: RunCache, tiny: RunConfig) -> None:
    assert compute(cache, tiny) == "done"
    assert compute(cache, tiny) == "cached"
    result = cache.result(tiny)
    assert result is not None and result.config == tiny
    assert [e.name for e in _entries(cache)] == [tiny.key()]
    state = torch.load(cache.weights_path(tiny), weights_only=True)
    assert state.keys() == cache.weights(tiny).keys()
    events = [e["event"] for e in cache.progress(tiny)]
    assert events[0] == "start" and events[-1] == "done" and events.count("epoch") == 2


def test_single_flight_two_concurrent_requests_one_computation(
    cache: RunCache, tiny: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropcore.train import worker

    calls = []
    real_train = worker.train

    def counting_train(config: RunConfig, **kw: object) -> object:
        calls.append(config.key())
        return real_train(config, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "train", counting_train)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(compute(cache, tiny))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["busy", "done"], ["cached", "done"])
    assert calls == [tiny.key()]


def test_cancelled_run_leaves_nothing_half_written(
    cache: RunCache, tiny: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropcore.train import worker

    config = replace(tiny, epochs=50)
    stop_at = 5
    steps: list[int] = []
    real_train = worker.train

    def train_cancelled_midway(c: RunConfig, **kw: object) -> object:
        def cancel_midway(p: Progress) -> None:
            steps.append(p.step)
            if p.step == stop_at:
                cache.request_cancel(config)

        return real_train(c, **{**kw, "progress": cancel_midway})  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "train", train_cancelled_midway)
    assert compute(cache, config) == "cancelled"
    monkeypatch.undo()
    assert max(steps) == stop_at
    assert _entries(cache) == []  # no entry and no temporary directory
    assert not cache.has(config)
    assert cache.progress(config)[-1]["event"] == "cancelled"
    assert compute(cache, tiny) == "done"  # the cache still works


def test_failed_store_leaves_no_partial_entry(
    cache: RunCache, tiny: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = train(tiny, evaluate_test=False)

    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.store(run)
    assert _entries(cache) == []


def _wait(manager: RunManager, config: RunConfig, timeout: float = 240) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = manager.status(config)
        if status.finished:
            return status.state
        time.sleep(0.2)
    raise AssertionError(f"run still {manager.status(config)} after {timeout} s")


def test_manager_single_flight_progress_and_cache_hit(cache: RunCache, tiny: RunConfig) -> None:
    manager = RunManager(cache, workers=1, threads=1)
    try:
        first = manager.submit(tiny, "student-a")
        second = manager.submit(tiny, "student-b")  # joins the same run
        assert first.state in ("queued", "running") and second.state == first.state
        other = replace(tiny, seed=1)
        assert manager.submit(other, "student-a").state == "queued"
        assert manager.status(other).position == 0
        seen_epochs = 0
        while not manager.status(tiny).finished:
            seen_epochs = max(seen_epochs, len(manager.status(tiny).epochs))
            time.sleep(0.1)
        assert manager.status(tiny).state == "done"
        assert _wait(manager, other) == "done"
        assert len(manager.status(tiny).epochs) == 2
        again = RunManager(cache)  # a reload, another student, a restart
        hit = again.submit(tiny, "student-c")
        assert hit.state == "cached" and hit.result is not None and hit.fraction == 1.0
        again.close()
    finally:
        manager.close()
    assert sorted(e.name for e in _entries(cache)) == sorted([tiny.key(), other.key()])


def test_manager_cancel_waits_for_every_watcher(cache: RunCache, tiny: RunConfig) -> None:
    config = replace(tiny, epochs=200)
    manager = RunManager(cache, workers=1, threads=1)
    try:
        manager.submit(config, "a")
        manager.submit(config, "b")
        while manager.status(config).fraction == 0:
            time.sleep(0.1)
        manager.cancel(config, "a")
        assert manager.status(config).state == "running"  # b still wants it
        manager.cancel(config, "b")
        assert manager.status(config).state == "cancelled"
        deadline = time.monotonic() + 60
        while cache.is_claimed(config) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not cache.is_claimed(config)
        assert _entries(cache) == []
        queued = replace(tiny, seed=7)
        manager.submit(queued, "a")
        manager.cancel(queued, "a")
        assert manager.status(queued).state == "cancelled"
    finally:
        manager.close()


def test_manager_reports_failures(cache: RunCache, tiny: RunConfig) -> None:
    config = replace(tiny, dataset="cifar10")  # not on disk here: a clear failure
    manager = RunManager(cache, workers=1, threads=1)
    try:
        manager.submit(config, "a")
        assert _wait(manager, config) == "failed"
        assert "CIFAR-10 is optional" in manager.status(config).error
    finally:
        manager.close()
