"""models.load: weights resolution (offline), clear errors, one shared frozen instance."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models import ResNet18_Weights, WeightsEnum

import models
from models import loading

CACHE_NAME = os.path.basename(ResNet18_Weights.IMAGENET1K_V1.url)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private, empty torch hub dir, no env overrides, no network, a fresh cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DROPLAB_WEIGHTS", raising=False)
    monkeypatch.delenv("DROPLAB_MODEL", raising=False)

    def offline(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(loading.socket, "create_connection", offline)
    models.clear_cache()
    yield tmp_path
    models.clear_cache()


def other_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """A valid ResNet-18 state dict unlike the seeded random init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torchvision.models.resnet18().state_dict()


def assert_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_random_model_is_frozen_eval_and_describes_itself() -> None:
    lm = models.load("resnet18", "random", "cpu")
    assert isinstance(lm, models.LoadedModel) and lm.name == "resnet18"
    assert lm.is_random and "random" in lm.weights_source
    assert lm.device == torch.device("cpu")
    assert not lm.model.training and all(not m.training for m in lm.model.modules())
    assert all(not p.requires_grad for p in lm.model.parameters())
    assert lm.categories == tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    assert len(lm.categories) == 1000 and lm.categories[0] == "tench"
    x = lm.transform(Image.new("RGB", (320, 240), (120, 30, 200)))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32


def test_random_init_is_the_same_in_every_process() -> None:
    first = {k: v.clone() for k, v in models.load("resnet18", "random").model.state_dict().items()}
    models.clear_cache()
    assert_state(models.load("resnet18", "random").model, first)


def test_one_shared_instance_per_key_even_under_concurrency() -> None:
    got: list[models.LoadedModel] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        got.append(models.load("resnet18", "random", "cpu"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(got) == 8 and all(lm is got[0] for lm in got)
    assert models.load("resnet18", "random", None) is got[0]  # None = the default device
    assert models.load("resnet50", "random", "cpu") is not got[0]


def test_local_file_is_loaded_and_checked(tmp_path: Path) -> None:
    state = other_state()
    path = tmp_path / "mine.pt"
    torch.save(state, path)
    lm = models.load("resnet18", str(path), "cpu")
    assert not lm.is_random and str(path) in lm.weights_source
    assert_state(lm.model, state)
    wrapped = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": state, "epoch": 3}, wrapped)
    assert_state(models.load("resnet18", str(wrapped)).model, state)


def _save_bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: str(d / "missing.pt"), "does not exist"),
        (lambda d: _save_bytes(d / "noise.pt", os.urandom(4096)), "corrupt"),
        (lambda d: _save_bytes(d / "text.pt", b"definitely not a checkpoint"), "corrupt"),
        (lambda d: _truncated(d), "corrupt"),
        (lambda d: _saved(d, {"model": "resnet18"}), "state dict"),
        (lambda d: _saved(d, {k: v for k, v in other_state().items() if "fc" not in k}), "missing"),
        (lambda d: _saved(d, {**other_state(), "extra.weight": torch.zeros(1)}), "unexpected"),
        (lambda d: _saved(d, {**other_state(), "fc.weight": torch.zeros(10, 512)}), "fc.weight"),
        (lambda d: _saved(d, {**other_state(), "fc.bias": torch.full((1000,), torch.nan)}), "NaN"),
        (lambda d: _saved(d, _Evil()), "corrupt"),
    ],
)
def test_unusable_file_raises_a_clear_weights_error(
    tmp_path: Path, make: object, match: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(models.WeightsError, match=match) as info:
        models.load("resnet18", path, "cpu")
    assert isinstance(info.value, ValueError) and repr(path) in str(info.value)


class _Evil:
    """Pickles to a call of os.system: weights_only=True must refuse it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo never-run",))


def _saved(directory: Path, obj: object) -> str:
    path = directory / "weights.pt"
    torch.save(obj, path)
    return str(path)


def _truncated(directory: Path) -> str:
    path = Path(_saved(directory, other_state()))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return str(path)


def test_auto_offline_without_cache_falls_back_to_random_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="models.loading"):
        lm = models.load("resnet18", "auto", "cpu")
    assert time.perf_counter() - start < 60  # never waits on a download
    assert lm.is_random
    assert "random init" in lm.weights_source and "unreachable" in lm.weights_source
    assert any("RANDOM" in r.message for r in caplog.records)


def test_auto_prefers_the_torch_hub_cache(isolated: Path) -> None:
    state = other_state()
    checkpoints = isolated / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / CACHE_NAME)
    for weights in ("auto", "imagenet"):
        lm = models.load("resnet18", weights, "cpu")
        assert not lm.is_random and CACHE_NAME in lm.weights_source
        assert_state(lm.model, state)


def test_auto_with_a_corrupt_cache_falls_back_but_imagenet_raises(isolated: Path) -> None:
    checkpoints = isolated / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / CACHE_NAME).write_bytes(b"\x00" * 100)
    lm = models.load("resnet18", "auto", "cpu")
    assert lm.is_random and "corrupt" in lm.weights_source
    with pytest.raises(models.WeightsError, match="corrupt"):
        models.load("resnet18", "imagenet", "cpu")


def test_imagenet_offline_without_cache_raises() -> None:
    with pytest.raises(models.WeightsError, match="unreachable"):
        models.load("resnet18", "imagenet", "cpu")


def test_download_is_used_when_the_host_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    state = other_state()
    monkeypatch.setattr(loading, "_host_reachable", lambda url: True)
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, **kw: state)
    lm = models.load("resnet18", "imagenet", "cpu")
    assert not lm.is_random and "downloaded" in lm.weights_source
    assert_state(lm.model, state)

    def broken(self: WeightsEnum, **kwargs: object) -> dict[str, torch.Tensor]:
        raise RuntimeError("connection reset")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", broken)
    models.clear_cache()
    with pytest.raises(models.WeightsError, match="connection reset"):
        models.load("resnet18", "imagenet", "cpu")
    assert models.load("resnet18", "auto", "cpu").is_random


def test_env_droplab_weights_steers_auto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = other_state()
    path = tmp_path / "env.pt"
    torch.save(state, path)
    monkeypatch.setenv("DROPLAB_WEIGHTS", str(path))
    lm = models.load("resnet18", "auto", "cpu")
    assert lm.weights_source.startswith(f"DROPLAB_WEIGHTS={path}") and not lm.is_random
    assert_state(lm.model, state)
    monkeypatch.setenv("DROPLAB_WEIGHTS", "random")
    models.clear_cache()
    assert models.load("resnet18", "auto").is_random
    monkeypatch.setenv("DROPLAB_WEIGHTS", str(tmp_path / "gone.pt"))
    models.clear_cache()
    with pytest.raises(models.WeightsError, match=r"gone\.pt"):  # the operator asked for it
        models.load("resnet18", "auto")


def test_env_droplab_model_picks_the_default_architecture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLAB_MODEL", "resnet18")
    assert models.load(weights="random").name == "resnet18"
    monkeypatch.setenv("DROPLAB_MODEL", "vgg16")
    with pytest.raises(ValueError, match="vgg16"):
        models.load(weights="random")


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"name": "resnet34"}, "resnet34"), ({"weights": ""}, "weights")]
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        models.load(**{"name": "resnet18", "weights": "random", **kwargs})


def test_default_device_follows_cuda_availability() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models.default_device().type == expected
