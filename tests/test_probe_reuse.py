"""Reused prefixes and baselines: same numbers, fewer passes, immutable, bounded."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

import pytest
import torch
from torch import nn

from dropcore.probe import Baseline, InputStore, ProbeResult, ProbeSettings, probe
from dropcore.probe.cache import image_digest, probe_key
from tests.conftest import assert_same_result

SETTINGS = {
    "drop_block": ProbeSettings(p=0.3, block_size=3, stages=("layer3",)),
    "dropout_everywhere": ProbeSettings(
        method="dropout", p=0.2, stages=("layer1", "layer2", "layer3", "layer4")
    ),
    "drop_connect": ProbeSettings(method="drop_connect", p=0.2, stages=("layer4",)),
    "cam_before_sites": ProbeSettings(
        method="dropout", p=0.3, stages=("layer4",), cam_layer="layer3"
    ),
    "none": ProbeSettings(method="none"),
}


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(1))


def reuse_of(store: InputStore, net: nn.Module, x: torch.Tensor):  # noqa: ANN201
    key = probe_key(net, x, ProbeSettings())
    return store.reuse(key.model, key.image)


@pytest.mark.parametrize("name", SETTINGS)
def test_reused_parts_give_bit_identical_results(net, x, name: str) -> None:
    settings, store = SETTINGS[name], InputStore(max_bytes=2**26)
    fresh = probe(net, x, settings, seed=4, samples=3)
    # Twice: the first run stores the parts, the second takes them from the store.
    for _ in range(2):
        assert_same_result(
            probe(net, x, settings, seed=4, samples=3, reuse=reuse_of(store, net, x)), fresh
        )
    stats = store.stats()
    assert stats.computed == 2 and stats.hits == 2  # one prefix and one baseline


def test_a_step_of_a_setting_reuses_both_parts(net, x) -> None:
    store = InputStore(max_bytes=2**26)
    for p, seed in ((0.1, 0), (0.2, 0), (0.2, 1)):  # a slider step, then a seed step
        probe(
            net, x, ProbeSettings(p=p, stages=("layer3",)), seed=seed, reuse=reuse_of(store, net, x)
        )
    assert (store.stats().computed, store.stats().hits) == (2, 4)
    # Another first site needs its own prefix; another CAM layer its own baseline.
    probe(net, x, ProbeSettings(p=0.1, stages=("layer2",)), reuse=reuse_of(store, net, x))
    probe(
        net,
        x,
        ProbeSettings(p=0.1, stages=("layer2",), cam_layer="layer3"),
        reuse=reuse_of(store, net, x),
    )
    assert (store.stats().computed, store.stats().hits) == (4, 6)


def test_given_target_has_its_own_baseline(net, x) -> None:
    store = InputStore(max_bytes=2**26)
    top = probe(net, x, SETTINGS["drop_block"], reuse=reuse_of(store, net, x))
    other = (top.target + 1) % 1000
    given = probe(net, x, SETTINGS["drop_block"], target=other, reuse=reuse_of(store, net, x))
    assert given.target == other
    assert not torch.equal(given.cam_baseline, top.cam_baseline)
    assert_same_result(given, probe(net, x, SETTINGS["drop_block"], target=other))


def _stored_parts(store: InputStore) -> list[torch.Tensor]:
    entries = store._parts._entries.values()  # noqa: SLF001  (what the store holds)
    parts: list[torch.Tensor] = []
    for value, _ in entries:
        parts += [value.logits, value.cam] if isinstance(value, Baseline) else [value]
    return parts


def test_stored_parts_cannot_be_changed_and_probes_leave_them_alone(net, x) -> None:
    store = InputStore(max_bytes=2**26)
    for settings in SETTINGS.values():
        probe(net, x, settings, seed=1, reuse=reuse_of(store, net, x))
    parts = _stored_parts(store)
    assert len(parts) >= 6
    pristine = [t.clone() for t in parts]
    for settings in SETTINGS.values():  # every path again, all from the store
        probe(net, x, settings, seed=2, samples=2, reuse=reuse_of(store, net, x))
    for part, before in zip(parts, pristine, strict=True):
        assert torch.equal(part, before)
        with pytest.raises(RuntimeError, match="[Ii]nplace update to inference tensor"):
            part.add_(1)


def test_other_image_or_changed_weights_use_other_parts(net, x) -> None:
    store = InputStore(max_bytes=2**26)
    settings = SETTINGS["drop_block"]
    probe(net, x, settings, reuse=reuse_of(store, net, x))
    y = x.flip(-1)
    assert image_digest(y) != image_digest(x)
    assert_same_result(
        probe(net, y, settings, reuse=reuse_of(store, net, y)), probe(net, y, settings)
    )
    trained = copy.deepcopy(net)  # one object, before and after a training step
    before_step = reuse_of(store, trained, x)
    probe(trained, x, settings, reuse=before_step)
    with torch.no_grad():
        trained.fc.bias.add_(1.0)  # an optimizer step bumps the version
    assert_same_result(
        probe(trained, x, settings, reuse=reuse_of(store, trained, x)), probe(trained, x, settings)
    )
    assert store.stats().computed == 8  # nothing was shared across inputs or weights


def test_memory_is_bounded_by_the_byte_budget(net, x) -> None:
    one = InputStore(max_bytes=2**26)
    probe(net, x, SETTINGS["drop_block"], reuse=reuse_of(one, net, x))
    per_input = one.stats().bytes
    assert per_input == sum(t.nbytes for t in _stored_parts(one))
    store = InputStore(max_bytes=int(2.5 * per_input))
    images = [x + i for i in range(4)]
    for image in images:
        probe(net, image, SETTINGS["drop_block"], reuse=reuse_of(store, net, image))
    stats = store.stats()
    assert stats.bytes <= stats.max_bytes and stats.entries < 8
    assert stats.evictions == 8 - stats.entries
    # The newest input's parts are still there.
    probe(net, images[-1], SETTINGS["drop_block"], seed=9, reuse=reuse_of(store, net, images[-1]))
    assert store.stats().hits == 2


def test_concurrent_probes_of_a_new_input_compute_each_part_once(net, x) -> None:
    store = InputStore(max_bytes=2**26)
    start = threading.Barrier(4)
    results: list[ProbeResult] = []

    def session(seed: int) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            results.append(
                probe(net, x, SETTINGS["drop_block"], seed=seed, reuse=reuse_of(store, net, x))
            )

        return run

    threads = [threading.Thread(target=session(seed)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = store.stats()
    assert stats.computed == 2 and stats.hits + stats.joined == 6
    for r in results:
        assert_same_result(r, probe(net, x, SETTINGS["drop_block"], seed=r.seed))


def test_store_budgets_come_from_the_environment(monkeypatch) -> None:
    from dropcore.probe.cache import _budget_bytes

    monkeypatch.delenv("DROPLAB_INPUT_CACHE_MB", raising=False)
    assert _budget_bytes("DROPLAB_INPUT_CACHE_MB", 64) == 64 * 2**20
    monkeypatch.setenv("DROPLAB_INPUT_CACHE_MB", "0.5")
    assert _budget_bytes("DROPLAB_INPUT_CACHE_MB", 64) == 2**19
    for bad in ("lots", "-1"):
        monkeypatch.setenv("DROPLAB_INPUT_CACHE_MB", bad)
        with pytest.raises(ValueError, match=f"DROPLAB_INPUT_CACHE_MB.*{bad}"):
            _budget_bytes("DROPLAB_INPUT_CACHE_MB", 64)
