"""dropcore.regularize: injection, measurement, schedule, eval identity, undo."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import dropcore as dc
from dropcore.recipe import RegularizedBlock, mix_seed
from dropcore.train import SmallResNet

ACTIVATION_METHODS = ("dropout", "spatial_dropout", "drop_block", "drop_path")


def _small(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return SmallResNet()


def _x(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", [*ACTIVATION_METHODS, "drop_connect"])
def test_state_dict_unchanged_and_remove_restores_objects(method: str) -> None:
    model = _small()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = {n: p for n, p in model.named_parameters()}
    blocks = {n: model.get_submodule(n) for n in ("layer3.0", "layer4.0", "fc")}
    reg = dc.regularize(model, dc.Recipe(method=method, p=0.2, classifier_p=0.5))
    assert list(model.state_dict()) == list(before)
    assert isinstance(model.layer3[0], RegularizedBlock)
    # Same Parameter objects: an optimizer built now trains the plain model's weights.
    assert {n: p for n, p in model.named_parameters()}.keys() == params.keys()
    assert all(p is params[n] for n, p in model.named_parameters())
    plain = reg.remove()
    assert plain is model
    for name, module in blocks.items():
        assert model.get_submodule(name) is module
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not any(isinstance(m, dc.recipe.Site) for m in model.modules())


@pytest.mark.parametrize("method", [*ACTIVATION_METHODS, "drop_connect"])
def test_eval_mode_is_the_plain_model(method: str) -> None:
    plain = _small().eval()
    model = copy.deepcopy(plain)
    dc.regularize(
        model,
        dc.Recipe(
            method=method,
            p=0.3,
            where="both",
            classifier_p=0.5,
            stages=("layer1", "layer2", "layer3", "layer4"),
        ),
    )
    model.eval()
    x = _x()
    assert torch.equal(model(x), plain(x))


def test_vanilla_dropout_scales_at_eval() -> None:
    plain = _small().eval()
    model = copy.deepcopy(plain)
    reg = dc.regularize(
        model,
        dc.Recipe(method="dropout", p=0.5, inverted=False, stages=("layer4",), where="branch"),
    )
    model.eval()
    assert reg.sites[0].p == 0.5
    assert not torch.equal(model(_x()), plain(_x()))


def test_p_zero_trains_exactly_like_the_plain_model_batchnorm_included() -> None:
    plain = _small().train()
    model = copy.deepcopy(plain)
    dc.regularize(model, dc.Recipe(method="drop_block", p=0.0, where="both"))
    x = _x(16)
    assert torch.equal(model(x), plain(x))
    for (name, a), b in zip(plain.named_buffers(), model.buffers(), strict=True):
        assert torch.equal(a, b), name  # running statistics updated identically


def _mean_dropped(model: nn.Module, reg: dc.Regularized, steps: int, n: int) -> dict[str, float]:
    model.train()
    sums: dict[str, float] = {}
    for i in range(steps):
        with torch.no_grad():  # the masks are the training masks; no backward needed
            model(_x(n, seed=100 + i))
        for k, v in reg.dropped().items():
            sums[k] = sums.get(k, 0.0) + v / steps
    return sums


@pytest.mark.parametrize(
    ("method", "where", "tol"),
    [
        # Sampling sd of the mean over all draws, times > 4.
        ("dropout", "both", 0.01),
        ("spatial_dropout", "both", 0.02),
        ("drop_block", "both", 0.02),  # exact gamma: expected fraction == p at 14 and 7
        ("drop_path", "branch", 0.035),  # per-sample draws: 20 x 128 samples, sd 0.0075
        ("drop_connect", "both", 0.01),
    ],
)
def test_no_op_guard_measured_drop_equals_target(method: str, where: str, tol: float) -> None:
    """The fraction each site actually dropped matches the rate: the recipe regularizes."""
    torch.manual_seed(0)
    model = SmallResNet()
    reg = dc.regularize(
        model,
        dc.Recipe(
            method=method,
            p=0.15,
            where=where,
            classifier_p=0.4,
            stages=("layer2", "layer3", "layer4"),
        ),
    )
    measured = _mean_dropped(model, reg, steps=20, n=128)
    kinds = {name.rsplit(".", 1)[-1] for name in measured}
    expected_kinds = {
        "drop_connect": {"conv1", "conv2", "downsample", "fc"},
        "drop_path": {"branch", "fc"},
    }.get(method, {"branch", "skip", "fc"})
    assert kinds == expected_kinds
    assert len(measured) == len(reg.sites)
    for name, value in measured.items():
        target = 0.4 if name == "fc" else 0.15
        assert abs(value - target) < (0.03 if name == "fc" else tol), (name, value)


def test_schedule_is_a_pure_function_of_the_step_with_depth_scaling() -> None:
    model = _small()
    sched = dc.LinearSchedule(start_keep=1.0, end_keep=0.8, total_steps=100)
    reg = dc.regularize(
        model,
        dc.Recipe(method="drop_block", p=0.2, schedule=sched, depth_scaling=True, where="branch"),
    )
    factors = {s.name: s.factor for s in reg.sites}
    assert factors == {"layer3.0.branch": 0.75, "layer4.0.branch": 1.0}  # p * depth / 4
    assert all(s.p == 0.0 for s in reg.sites)  # step 0: keep 1.0
    for step in (0, 25, 50, 100, 250, 37.5):
        rate = reg.set_step(step)
        assert rate == sched.drop_prob(step)
        for site in reg.sites:
            assert site.p == pytest.approx(site.factor * rate)
    reg.set_step(50)
    snapshot = reg.expected()
    model.eval()
    model(_x())
    model.train()
    model(_x())
    assert reg.expected() == snapshot  # forwards, in either mode, never advance it


def test_recipe_validation_names_the_bad_value() -> None:
    sched = dc.LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=10)
    with pytest.raises(ValueError, match="schedule's final rate"):
        dc.Recipe(method="drop_block", p=0.2, schedule=sched)
    with pytest.raises(ValueError, match="classifier_p"):
        dc.Recipe(classifier_p=1.5)
    with pytest.raises(ValueError, match="seed"):
        dc.Recipe(seed=-1)
    with pytest.raises(ValueError, match="torchvision-style ResNet"):
        dc.regularize(nn.Sequential(nn.Conv2d(1, 2, 3)), dc.Recipe())
    model = _small()
    dc.regularize(model, dc.Recipe())
    with pytest.raises(ValueError, match="already regularized"):
        dc.regularize(model, dc.Recipe())


@pytest.mark.parametrize("builder", [torchvision.models.resnet18, torchvision.models.resnet50])
def test_torchvision_resnets_basic_and_bottleneck(builder: object) -> None:
    torch.manual_seed(0)
    model = builder(num_classes=10)  # type: ignore[operator]
    sched = dc.LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=1000)
    reg = dc.regularize(
        model,
        dc.Recipe(
            method="drop_block",
            p=0.1,
            block_size=7,
            stages=("layer3", "layer4"),
            where="both",
            schedule=sched,
        ),
    )
    reg.set_step(1000)
    model.train()
    x = torch.randn(2, 3, 160, 160)  # layer3 at 10x10, layer4 at 5x5
    model(x).sum().backward()
    dropped = reg.dropped()
    assert set(dropped) == {s.name for s in reg.sites}
    assert all(0.0 < v < 0.3 for v in dropped.values())
    assert all(p.grad is not None for p in model.parameters())


def test_masks_reproducible_from_seed_and_distinct_per_stream() -> None:
    def outputs(seed: int) -> torch.Tensor:
        model = _small()
        reg = dc.regularize(model, dc.Recipe(method="drop_block", p=0.3, seed=seed))
        reg.rng.reseed()
        return model.train()(_x())

    assert torch.equal(outputs(5), outputs(5))
    assert not torch.equal(outputs(5), outputs(6))
    seeds = {mix_seed(0, rank, worker) for rank in range(4) for worker in range(4)}
    assert len(seeds) == 16


class _SeedPerItem(torch.utils.data.Dataset[int]):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return dc.recipe.process_seed(0)


def test_dataloader_workers_get_distinct_mask_streams() -> None:
    loader = torch.utils.data.DataLoader(_SeedPerItem(), batch_size=2, num_workers=2)
    seeds = {int(s) for batch in loader for s in batch}
    assert len(seeds) == 2  # one stream per worker, none equal to the main process's
    assert dc.recipe.process_seed(0) not in seeds
