"""dropcore.probe on a random-init ResNet-18: results, determinism, sites, drop rates."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from dropcore.probe import (
    METHODS,
    ProbeSettings,
    draw_seed,
    probe,
    site_names,
)

ACTIVATION_METHODS = ("dropout", "spatial_dropout", "drop_block", "drop_path")


def image(size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def settings_for(method: str, **kwargs: object) -> ProbeSettings:
    """Paper-like settings; DropConnect on layer3 only (masking ResNet-18's 8M layer4
    weights per draw is what makes it slow, and adds nothing to these checks)."""
    stages = ("layer3",) if method == "drop_connect" else ("layer3", "layer4")
    return ProbeSettings(method=method, block_size=3, stages=stages, **kwargs)


def test_result_holds_every_view_on_the_cpu(net: torch.nn.Module) -> None:
    settings = ProbeSettings(block_size=3)
    r = probe(net, image(), settings, seed=3, samples=3)
    assert (r.settings, r.seed, r.samples) == (settings, 3, 3)
    assert r.baseline_logits.shape == (1000,) and r.logits.shape == (3, 1000)
    assert r.cam_baseline.shape == (2, 2) and r.cams.shape == (3, 2, 2)
    assert r.target == int(r.baseline_logits.argmax())
    assert tuple(s.name for s in r.sites) == site_names(net, settings)
    assert r.sites[0].name == "layer3.0.branch" and r.sites[1].name == "layer3.0.skip"
    tensors = [r.baseline_logits, r.logits, r.cam_baseline, r.cams]
    tensors += [t for s in r.sites for t in (s.keep_mask, s.before, s.after)]
    assert all(t.device.type == "cpu" for t in tensors)
    for cam in (r.cam_baseline, *r.cams):
        assert cam.min() >= 0 and cam.max() <= 1
    assert r.elapsed_s > 0 and r.site("layer4.1.skip") is r.sites[-1]
    with pytest.raises(KeyError, match=r"layer4\.1\.skip"):
        r.site("layer9.0.branch")


def test_baseline_is_the_plain_eval_forward(net: torch.nn.Module) -> None:
    x = image()
    with torch.no_grad():
        expected = net(x)[0]
    for method in METHODS:
        r = probe(net, x, settings_for(method, p=0.5), samples=2)
        torch.testing.assert_close(r.baseline_logits, expected, rtol=1e-4, atol=1e-4)


def test_method_none_returns_the_baseline_for_every_draw(net: torch.nn.Module) -> None:
    r = probe(net, image(), ProbeSettings(method="none"), samples=4)
    assert r.sites == ()
    assert torch.equal(r.logits, r.baseline_logits.expand(4, -1))
    assert torch.equal(r.cams, r.cam_baseline.expand(4, -1, -1))


@pytest.mark.parametrize("method", METHODS[1:])
def test_zero_rate_changes_nothing(net: torch.nn.Module, method: str) -> None:
    r = probe(net, image(), settings_for(method, p=0.0), samples=2)
    torch.testing.assert_close(r.logits, r.baseline_logits.expand(2, -1), rtol=1e-4, atol=1e-4)
    assert all(s.measured_drop == 0.0 for s in r.sites)


@pytest.mark.parametrize("method", METHODS[1:])
def test_a_real_rate_changes_the_prediction(net: torch.nn.Module, method: str) -> None:
    r = probe(net, image(), settings_for(method, p=0.5), samples=2)
    assert not torch.allclose(r.logits, r.baseline_logits.expand(2, -1))
    assert all(0.0 < s.measured_drop < 1.0 for s in r.sites if method != "drop_path")


def test_same_seed_is_bit_identical_and_seeds_differ(net: torch.nn.Module) -> None:
    x, settings = image(), ProbeSettings(block_size=3)
    a, b = (probe(net, x, settings, seed=7, samples=3) for _ in range(2))
    c = probe(net, x, settings, seed=8, samples=3)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.cams, b.cams)
    for sa, sb in zip(a.sites, b.sites, strict=True):
        assert torch.equal(sa.keep_mask, sb.keep_mask) and torch.equal(sa.after, sb.after)
        assert sa.measured_drop == sb.measured_drop
    pairs = zip(a.sites, c.sites, strict=True)
    assert any(not torch.equal(sa.keep_mask, sc.keep_mask) for sa, sc in pairs)


def test_draws_do_not_depend_on_samples_or_chunking(net: torch.nn.Module) -> None:
    # 10 and 12 draws run as chunks [0..7] + [8, 9] and [0..7] + [8..11].
    x, settings = image(), ProbeSettings(method="dropout", p=0.3)
    one = probe(net, x, settings, seed=5, samples=1)
    ten = probe(net, x, settings, seed=5, samples=10)
    twelve = probe(net, x, settings, seed=5, samples=12)
    for s1, s10 in zip(one.sites, ten.sites, strict=True):
        assert torch.equal(s1.keep_mask, s10.keep_mask)
    torch.testing.assert_close(ten.logits[:1], one.logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(twelve.logits[:10], ten.logits, rtol=1e-4, atol=1e-4)
    assert len({tuple(row.tolist()) for row in ten.logits}) == 10  # draws really differ


def test_draw_seeds_are_mixed() -> None:
    seeds = {draw_seed(s, d) for s in range(20) for d in range(20)}
    assert len(seeds) == 400 and all(0 <= v < 2**64 for v in seeds)


@pytest.mark.parametrize("method", ACTIVATION_METHODS)
def test_after_is_before_times_mask_times_scale(net: torch.nn.Module, method: str) -> None:
    settings = ProbeSettings(method=method, p=0.3, block_size=3, per_channel=False)
    r = probe(net, image(), settings, seed=1)
    for s in r.sites:
        mask = s.keep_mask.float()
        if method == "drop_block":
            scale = mask.numel() / mask.sum() if mask.sum() > 0 else 0.0
            assert s.keep_mask.shape == (1, *s.before.shape[1:])
        else:
            scale = 1 / (1 - s.target_p)
        torch.testing.assert_close(s.after, s.before * mask * scale, rtol=1e-5, atol=1e-6)


def test_vanilla_dropout_does_not_rescale(net: torch.nn.Module) -> None:
    r = probe(net, image(), ProbeSettings(method="dropout", p=0.3, inverted=False))
    for s in r.sites:
        torch.testing.assert_close(s.after, s.before * s.keep_mask.float())


def test_drop_connect_has_one_site_per_conv(net: torch.nn.Module) -> None:
    r = probe(net, image(), settings_for("drop_connect", p=0.25), samples=2)
    assert [s.name for s in r.sites] == [
        "layer3.0.conv1",
        "layer3.0.conv2",
        "layer3.0.downsample",
        "layer3.1.conv1",
        "layer3.1.conv2",
    ]
    assert r.sites[1].keep_mask.shape == net.layer3[0].conv2.weight.shape
    assert r.sites[1].before.shape == r.sites[1].after.shape == (256, 4, 4)
    assert not torch.equal(r.sites[1].before, r.sites[1].after)
    for s in r.sites:  # over 2 draws x >= 32k weights: sd of the fraction < 0.002
        assert s.measured_drop == pytest.approx(0.25, abs=0.01)


def test_site_selection(net: torch.nn.Module) -> None:
    names = site_names(net, ProbeSettings(stages=("layer2",), blocks=(1,), where="branch"))
    assert names == ("layer2.1.branch",)
    assert site_names(net, ProbeSettings(method="drop_path", stages=("layer1",))) == (
        "layer1.0.branch",
        "layer1.1.branch",
    )
    skip_convs = site_names(net, ProbeSettings(method="drop_connect", where="skip"))
    assert skip_convs == ("layer3.0.downsample", "layer4.0.downsample")
    assert site_names(net, ProbeSettings(method="none")) == ()
    with pytest.raises(ValueError, match="no block 2"):
        site_names(net, ProbeSettings(blocks=(2,)))
    with pytest.raises(ValueError, match="no site"):
        site_names(net, ProbeSettings(method="drop_connect", where="skip", blocks=(1,)))


def test_depth_scaling_rises_linearly_over_the_network(net: torch.nn.Module) -> None:
    settings = ProbeSettings(method="dropout", p=0.4, depth_scaling=True, where="branch")
    r = probe(net, image(), settings)
    # ResNet-18 has 8 blocks; layer3.0 is the 5th.
    assert [s.target_p for s in r.sites] == pytest.approx([0.4 * d / 8 for d in (5, 6, 7, 8)])


def test_exact_gamma_hits_the_target_and_paper_gamma_its_own_expectation(
    net: torch.nn.Module,
) -> None:
    # 128 px: layer3 maps are 8x8 (256 channels), layer4 4x4 (512 channels). One draw has
    # >= 8192 / 9 roughly independent blocks per site, so over 16 draws the sd of a
    # measured fraction is < 0.003; 0.015 is > 5 sd.
    x = image(128)
    exact = probe(net, x, ProbeSettings(p=0.2, block_size=3), samples=16, record=False)
    for s in exact.sites:
        assert s.expected_drop == pytest.approx(0.2)
        assert s.measured_drop == pytest.approx(0.2, abs=0.015)
    paper = ProbeSettings(p=0.2, block_size=3, gamma="paper", seeding="valid")
    r = probe(net, x, paper, samples=16, record=False)
    for s in r.sites:
        assert s.expected_drop < 0.2 - 0.01  # block overlap: the paper's formula under-drops
        assert s.measured_drop == pytest.approx(s.expected_drop, abs=0.015)


def test_record_selects_what_is_kept(net: torch.nn.Module) -> None:
    x, settings = image(), ProbeSettings(block_size=3)
    full = probe(net, x, settings, seed=2)
    none = probe(net, x, settings, seed=2, record=False)
    one = probe(net, x, settings, seed=2, record=["layer4.0.skip"])
    assert all(s.keep_mask is None and s.before is None and s.after is None for s in none.sites)
    assert [s.name for s in one.sites if s.keep_mask is not None] == ["layer4.0.skip"]
    assert torch.equal(one.site("layer4.0.skip").after, full.site("layer4.0.skip").after)
    assert torch.equal(none.logits, full.logits)  # recording does not change the draws
    assert [s.measured_drop for s in none.sites] == [s.measured_drop for s in full.sites]
    with pytest.raises(ValueError, match=r"layer3\.0\.conv1"):
        probe(net, x, settings, record=["layer3.0.conv1"])
    with pytest.raises(ValueError, match="record"):
        probe(net, x, settings, record="layer4.0.skip")


def test_given_target_is_explained(net: torch.nn.Module) -> None:
    x = image()
    top = probe(net, x, ProbeSettings(method="none"))
    other = (top.target + 1) % 1000
    r = probe(net, x, ProbeSettings(method="none"), target=other)
    assert r.target == other and not torch.equal(r.cam_baseline, top.cam_baseline)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": 1000}, "target"),
        ({"target": -1}, "target"),
        ({"samples": 0}, "samples"),
        ({"samples": 2.0}, "samples"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"x": torch.zeros(2, 3, 32, 32)}, "one image"),
        ({"x": torch.zeros(1, 1, 32, 32)}, r"\(1, 3, H, W\)"),
        ({"x": torch.zeros(1, 3, 32, 32, dtype=torch.int64)}, "floating"),
        ({"settings": {"method": "dropout"}}, "ProbeSettings"),
    ],
)
def test_bad_arguments_raise(net: torch.nn.Module, kwargs: dict, match: str) -> None:
    args = {"x": image(32), "settings": ProbeSettings(), **kwargs}
    x, settings = args.pop("x"), args.pop("settings")
    with pytest.raises(ValueError, match=match):
        probe(net, x, settings, **args)


def test_not_a_resnet_is_refused() -> None:
    with pytest.raises(ValueError, match="torchvision-style ResNet"):
        probe(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), image(), ProbeSettings())


def test_unbatched_image_and_other_devices_dtypes_are_accepted(net: torch.nn.Module) -> None:
    x = image()
    a = probe(net, x, ProbeSettings(method="none"))
    b = probe(net, x[0].double(), ProbeSettings(method="none"))
    torch.testing.assert_close(a.baseline_logits, b.baseline_logits)


def test_progress_reports_chunks_and_can_stop_the_probe(net: torch.nn.Module) -> None:
    calls: list[tuple[int, int]] = []
    settings = ProbeSettings(block_size=3)
    probe(net, image(), settings, samples=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(8, 10), (10, 10)]

    class Superseded(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Superseded

    with pytest.raises(Superseded):
        probe(net, image(), ProbeSettings(block_size=3), samples=10, progress=stop)
    # The compute slot was released: another thread can still probe.
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (probe(net, image(), ProbeSettings(method="none")), done.set())
    )
    worker.start()
    worker.join(timeout=60)
    assert done.is_set()


@pytest.mark.parametrize(("cam_layer", "side"), [("layer1", 16), ("layer3", 4), ("layer4", 2)])
def test_cam_layer_sets_the_cam_resolution(net: torch.nn.Module, cam_layer: str, side: int) -> None:
    r = probe(net, image(), ProbeSettings(p=0.3, block_size=3, cam_layer=cam_layer), samples=2)
    assert r.cams.shape == (2, side, side) and r.cam_baseline.shape == (side, side)
    assert torch.isfinite(r.cams).all()


def test_batchnorm_uses_running_stats_even_on_a_model_left_in_train_mode(
    net: torch.nn.Module,
) -> None:
    x = image()
    trained = copy.deepcopy(net).train()
    buffers = {k: v.clone() for k, v in trained.named_buffers()}
    r = probe(trained, x, ProbeSettings(p=0.3, block_size=3), samples=2)
    assert trained.training  # the probe neither switches modes ...
    for name, value in trained.named_buffers():  # ... nor updates BN statistics
        assert torch.equal(value, buffers[name]), name
    with torch.no_grad():
        torch.testing.assert_close(r.baseline_logits, net(x)[0], rtol=1e-4, atol=1e-4)


def test_the_callers_grad_mode_does_not_matter(net: torch.nn.Module) -> None:
    x, settings = image(), ProbeSettings(block_size=3)
    plain = probe(net, x, settings, samples=2)
    with torch.no_grad():
        quiet = probe(net, x, settings, samples=2)
    with torch.inference_mode():
        inference = probe(net, x.clone(), settings, samples=2)
    for other in (quiet, inference):
        assert torch.equal(plain.logits, other.logits) and torch.equal(plain.cams, other.cams)


def test_a_channels_last_model_gives_the_same_draws(net: torch.nn.Module) -> None:
    x, settings = image(), ProbeSettings(block_size=3)
    fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
    a, b = probe(net, x, settings, samples=2), probe(fast, x, settings, samples=2)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-4, atol=1e-4)
    for sa, sb in zip(a.sites, b.sites, strict=True):
        assert torch.equal(sa.keep_mask, sb.keep_mask)
