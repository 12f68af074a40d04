"""The shared model is never mutated, and concurrent probes equal sequential ones."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch
from torch import nn

from dropcore.probe import ProbeSettings, probe, set_concurrency
from dropcore.probe import inject as inject_module
from dropcore.probe.limiter import compute_slots

HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
VARIANTS = (
    ProbeSettings(block_size=3),
    ProbeSettings(method="dropout", p=0.3, where="branch", cam_layer="layer3"),
    ProbeSettings(method="dropout", p=0.3, inverted=False, stages=("layer1",)),
    ProbeSettings(method="spatial_dropout", p=0.4, stages=("layer2", "layer4")),
    ProbeSettings(method="drop_block", p=0.2, block_size=2, gamma="paper", seeding="valid"),
    ProbeSettings(method="drop_block", p=0.2, per_channel=False, depth_scaling=True),
    ProbeSettings(method="drop_path", p=0.5, stages=("layer1", "layer2", "layer3", "layer4")),
    ProbeSettings(method="drop_connect", p=0.2, stages=("layer2",), blocks=(0,)),
    ProbeSettings(method="none", cam_layer="layer2"),
)


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything a probe could mutate: values (and storage) of parameters and buffers,
    grads, requires_grad, modes and every hook dict, per module and global."""
    state = {k: (v.clone(), v.data_ptr()) for k, v in model.state_dict(keep_vars=True).items()}
    params = {k: (p.requires_grad, p.grad) for k, p in model.named_parameters()}
    modules = {
        name: (m.training, {h: dict(getattr(m, h)) for h in HOOK_DICTS})
        for name, m in model.named_modules()
    }
    globals_ = {
        h: dict(getattr(nn.modules.module, h))
        for h in dir(nn.modules.module)
        if h.startswith("_global_") and h.endswith("hooks")
    }
    return {"state": state, "params": params, "modules": modules, "globals": globals_}


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, (value, ptr) in before["state"].items():
        now, now_ptr = after["state"][key]
        assert torch.equal(value, now) and ptr == now_ptr, key
    assert before["params"] == after["params"]
    assert before["modules"] == after["modules"]
    assert before["globals"] == after["globals"]


class Boom(RuntimeError):
    pass


def test_100_probes_and_failures_mid_probe_leave_the_model_untouched(
    net: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    seen: list[str] = []
    # A user's hook on the shared model: it must survive, and never be called by a probe.
    handle = net.layer3.register_forward_hook(lambda *args: seen.append("hook"))
    try:
        before = snapshot(net)
        runs = itertools.islice(itertools.cycle(VARIANTS), 90)
        for i, settings in enumerate(runs):
            probe(net, x, settings, seed=i, samples=1 + i % 3)

        def stop(done: int, total: int) -> None:
            raise Boom("superseded")

        for i in range(5):  # stopped by the progress callback after the first chunk
            with pytest.raises(Boom):
                probe(net, x, VARIANTS[i], seed=i, samples=10, progress=stop)

        real = inject_module.drop_block
        calls = itertools.count()

        def failing(*args: object, **kwargs: object) -> object:
            if next(calls) % 7 == 6:  # deep inside the forward, sometimes after the CAM layer
                raise Boom("regularizer failed")
            return real(*args, **kwargs)

        monkeypatch.setattr(inject_module, "drop_block", failing)
        for i in range(5):
            with pytest.raises(Boom):
                probe(net, x, ProbeSettings(block_size=3), seed=i, samples=3)
        assert_same(before, snapshot(net))
        assert seen == []
    finally:
        handle.remove()


def _results_equal(a: object, b: object) -> bool:
    same = (
        a.target == b.target
        and torch.equal(a.baseline_logits, b.baseline_logits)
        and torch.equal(a.logits, b.logits)
        and torch.equal(a.cam_baseline, b.cam_baseline)
        and torch.equal(a.cams, b.cams)
        and len(a.sites) == len(b.sites)
    )
    for sa, sb in zip(a.sites, b.sites, strict=True):
        same = same and sa.measured_drop == sb.measured_drop
        same = same and torch.equal(sa.keep_mask, sb.keep_mask) and torch.equal(sa.after, sb.after)
    return same


@pytest.mark.parametrize("slots", [1, 8])
def test_eight_concurrent_probes_equal_sequential_runs(net: nn.Module, slots: int) -> None:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    jobs = [(VARIANTS[i], 100 + i, 1 + i % 3) for i in range(8)]
    sequential = [probe(net, x, s, seed=seed, samples=n) for s, seed, n in jobs]
    previous = compute_slots("cpu").slots
    set_concurrency(slots)
    try:
        start = threading.Barrier(len(jobs))
        results: list[object] = [None] * len(jobs)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            settings, seed, n = jobs[i]
            start.wait()
            try:
                results[i] = probe(net, x, settings, seed=seed, samples=n)
            except BaseException as exc:  # re-raised below in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        set_concurrency(previous)
    assert not errors, errors
    for i, (seq, conc) in enumerate(zip(sequential, results, strict=True)):
        assert conc is not None and _results_equal(seq, conc), jobs[i][0]
