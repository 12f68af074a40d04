"""The shared probe-result cache: hits, single-flight, immutability, bounded memory."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from dropcore.probe import ProbeCache, ProbeSettings, cached_probe, probe
from dropcore.probe.cache import SharedCache, image_digest, probe_key, result_nbytes
from tests.conftest import assert_same_result, result_tensors

SETTINGS = ProbeSettings(block_size=3, stages=("layer3",))


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_second_identical_request_is_a_hit_and_equals_a_plain_probe(net, x) -> None:
    cache = ProbeCache(max_bytes=64 * 2**20)
    first = cached_probe(net, x, SETTINGS, seed=3, record={"layer3.0.branch"}, cache=cache)
    again = cached_probe(net, x, SETTINGS, seed=3, record={"layer3.0.branch"}, cache=cache)
    assert (first.source, again.source) == ("computed", "hit") and again.shared
    assert_same_result(first.result, again.result)
    assert_same_result(again.result, probe(net, x, SETTINGS, seed=3, record={"layer3.0.branch"}))
    stats = cache.stats()
    assert (stats.computed, stats.hits, stats.entries) == (1, 1, 1)
    assert stats.hit_rate == pytest.approx(0.5)


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 4},
        {"samples": 2},
        {"target": 7},
        {"record": False},
        {"settings": ProbeSettings(block_size=5, stages=("layer3",))},
    ],
)
def test_anything_that_changes_the_result_changes_the_key(net, x, change) -> None:
    cache = ProbeCache(max_bytes=64 * 2**20)
    base = {"settings": SETTINGS, "seed": 3, "samples": 1, "target": None, "record": True}
    cached_probe(net, x, cache=cache, **base)
    assert cached_probe(net, x, cache=cache, **{**base, **change}).source == "computed"


def test_other_image_or_changed_weights_are_a_new_key(net, x) -> None:
    key = probe_key(net, x, SETTINGS)
    assert probe_key(net, x.clone(), SETTINGS) == key  # content, not identity
    assert probe_key(net, x + 1e-3, SETTINGS) != key
    other = copy.deepcopy(net)  # same weights, another object
    assert probe_key(other, x, SETTINGS) != key
    before = probe_key(other, x, SETTINGS)
    assert probe_key(other.eval(), x, SETTINGS) == before  # no tensor written
    # A caller that keeps the input's digest gets the key that hashing it would give.
    assert probe_key(net, x, SETTINGS, image=image_digest(x)) == key
    assert probe_key(net, x, SETTINGS, image=image_digest(x + 1e-3)) != key
    with torch.no_grad():
        other.fc.weight.mul_(1.0)  # any in-place write (an optimizer step) bumps a version
    assert probe_key(other, x, SETTINGS) != before
    # Deep in the tree, and buffers too (a BN's running statistics).
    for tensor in (other.layer4[-1].conv2.weight, other.layer2[0].bn1.running_mean):
        written = probe_key(other, x, SETTINGS)
        with torch.no_grad():
            tensor.add_(0.0)
        assert probe_key(other, x, SETTINGS) != written


def test_identical_concurrent_requests_compute_once() -> None:
    cache: SharedCache[str, bytes] = SharedCache(2**20, sizeof=len)
    follower_waiting = threading.Event()
    calls: list[int] = []

    def compute() -> bytes:
        calls.append(1)
        assert follower_waiting.wait(10), "the followers never waited"
        return b"picture"

    got: list[tuple[bytes, str]] = []
    threads = [
        threading.Thread(
            target=lambda: got.append(
                cache.get_or_compute("key", compute, poll=follower_waiting.set)
            )
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(calls) == 1
    assert sorted(got) == [(b"picture", s) for s in ("computed", "joined", "joined", "joined")]
    stats = cache.stats()
    assert (stats.computed, stats.joined, stats.bytes) == (1, 3, len(b"picture"))
    assert cache.get_or_compute("key", compute) == (b"picture", "hit")


def test_none_is_a_value_not_a_failure() -> None:
    cache: SharedCache[str, bytes | None] = SharedCache(2**20, sizeof=lambda v: 0)
    calls: list[int] = []
    assert cache.get_or_compute("k", lambda: calls.append(1)) == (None, "computed")
    assert cache.get_or_compute("k", lambda: calls.append(1)) == (None, "hit")
    assert len(calls) == 1


def test_two_sessions_same_setting_one_pass(net, x) -> None:
    """Two sessions ask for the same pass at once: one runs it, the other gets its result."""
    cache = ProbeCache(max_bytes=64 * 2**20)
    follower_waiting = threading.Event()
    out: dict[str, object] = {}

    def leader_progress(done: int, total: int) -> None:
        # Still inside the pass: hold it open until the second session waits for it.
        assert follower_waiting.wait(30)

    def session(name: str, **kw: object) -> None:
        out[name] = cached_probe(net, x, SETTINGS, seed=11, cache=cache, **kw)

    first = threading.Thread(target=session, args=("a",), kwargs={"progress": leader_progress})
    first.start()
    while not cache.in_flight():  # the first session's pass has started
        threading.Event().wait(0.01)
    second = threading.Thread(target=session, args=("b",), kwargs={"poll": follower_waiting.set})
    second.start()
    first.join(60)
    second.join(60)
    assert (out["a"].source, out["b"].source) == ("computed", "joined")
    assert_same_result(out["a"].result, out["b"].result)
    assert cache.stats().computed == 1


def test_a_failed_or_interrupted_pass_is_not_handed_to_the_waiters(net, x) -> None:
    cache = ProbeCache(max_bytes=64 * 2**20)
    follower_waiting = threading.Event()
    out: dict[str, object] = {}

    class Superseded(BaseException):  # what Streamlit raises in a superseded run
        pass

    def interrupted(done: int, total: int) -> None:
        assert follower_waiting.wait(30)
        raise Superseded

    def leader() -> None:
        with pytest.raises(Superseded):
            cached_probe(net, x, SETTINGS, seed=5, cache=cache, progress=interrupted)

    first = threading.Thread(target=leader)
    first.start()
    while not cache.in_flight():
        threading.Event().wait(0.01)
    second = threading.Thread(
        target=lambda: out.setdefault(
            "b", cached_probe(net, x, SETTINGS, seed=5, cache=cache, poll=follower_waiting.set)
        )
    )
    second.start()
    first.join(60)
    second.join(60)
    assert out["b"].source == "computed"  # the waiter ran the pass itself
    assert_same_result(out["b"].result, probe(net, x, SETTINGS, seed=5))
    assert cache.stats().computed == 1 and not cache.in_flight()


def test_results_cannot_be_changed_in_place(net, x) -> None:
    cache = ProbeCache(max_bytes=64 * 2**20)
    pristine = probe(net, x, SETTINGS, seed=2)
    computed = cached_probe(net, x, SETTINGS, seed=2, cache=cache).result
    served = cached_probe(net, x, SETTINGS, seed=2, cache=cache).result
    for t in result_tensors(computed) + result_tensors(served):
        assert t is not None
        with pytest.raises(RuntimeError, match="[Ii]nplace"):
            t.add_(1) if t.dtype != torch.bool else t.logical_not_()
        with pytest.raises(RuntimeError, match="[Ii]nplace"):
            t[..., 0] = 0
    with pytest.raises(AttributeError):
        served.logits = torch.zeros(1)  # type: ignore[misc]  # frozen dataclass
    # The paths torch does not guard only reach this caller's own copy.
    served.logits.numpy()[:] = 0
    served.sites[0].before.detach().zero_()
    assert_same_result(cached_probe(net, x, SETTINGS, seed=2, cache=cache).result, pristine)


def test_memory_is_bounded_by_the_byte_budget(net, x) -> None:
    one = probe(net, x, SETTINGS, seed=0)
    size = result_nbytes(one)
    # The measure is the tensors' own storage: numel * element size of every tensor.
    assert size == sum(t.numel() * t.element_size() for t in result_tensors(one) if t is not None)
    cache = ProbeCache(max_bytes=int(2.5 * size))
    for seed in range(6):
        cached_probe(net, x, SETTINGS, seed=seed, cache=cache)
    stats = cache.stats()
    assert stats.entries == 2 and stats.evictions == 4
    assert stats.bytes == 2 * size <= stats.max_bytes
    # The most recent ones stay; a result larger than the whole budget is served, not kept.
    assert cached_probe(net, x, SETTINGS, seed=5, cache=cache).source == "hit"
    tiny = ProbeCache(max_bytes=size - 1)
    assert cached_probe(net, x, SETTINGS, cache=tiny).source == "computed"
    assert tiny.stats().entries == 0 and tiny.stats().bytes == 0


def test_bad_arguments_are_probes_own_errors(net, x) -> None:
    cache = ProbeCache(max_bytes=2**20)
    with pytest.raises(ValueError, match="settings must be a ProbeSettings"):
        cached_probe(net, x, "drop_block", cache=cache)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        cached_probe(net, x, SETTINGS, seed=-1, cache=cache)
    assert not cache.in_flight() and cache.stats().entries == 0
