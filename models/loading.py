"""Loading the shared pretrained ResNet: weights resolution, checks, one instance per key.

``weights`` accepts:

* ``"imagenet"``: torchvision's weights (``ResNet50_Weights.IMAGENET1K_V2``,
  ``ResNet18_Weights.IMAGENET1K_V1``): the torch hub cache, else a download.
* a path to a local state-dict file, read with ``torch.load(weights_only=True)``; keys,
  shapes and finiteness are checked.
* ``"random"``: random init, reproducible (seeded with :data:`RANDOM_INIT_SEED`).
* ``"auto"``: the value of env ``DROPLAB_WEIGHTS`` if set (then errors are raised, since
  the operator asked for it), else the cached ImageNet file, else a download if the host
  answers within :data:`CONNECT_TIMEOUT_S`, else random init with ``is_random=True`` and
  the reason in ``weights_source`` (and a logged warning).

Category names and preprocessing always come from the torchvision weights' metadata, also
for random init. Models are returned in eval mode with every parameter frozen
(``requires_grad=False``) once, here; nothing later mutates them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.models import ResNet18_Weights, ResNet50_Weights, WeightsEnum

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MODEL_NAMES",
    "RANDOM_INIT_SEED",
    "LoadedModel",
    "WeightsError",
    "clear_cache",
    "default_device",
    "load",
]

log = logging.getLogger(__name__)

_ARCHS: dict[str, tuple[Callable[..., nn.Module], WeightsEnum]] = {
    "resnet50": (torchvision.models.resnet50, ResNet50_Weights.IMAGENET1K_V2),
    "resnet18": (torchvision.models.resnet18, ResNet18_Weights.IMAGENET1K_V1),
}
MODEL_NAMES: tuple[str, ...] = tuple(_ARCHS)
RANDOM_INIT_SEED = 0
# "auto" must never hang on a machine without network: one short TCP connect decides.
CONNECT_TIMEOUT_S = 3.0


class WeightsError(ValueError):
    """Weights that were asked for cannot be used (missing, corrupt, mismatched, offline)."""


@dataclass(frozen=True)
class LoadedModel:
    """A shared, frozen, eval-mode model and what a page needs around it.

    Attributes:
        model: the ResNet (eval mode, ``requires_grad=False``); never mutate it.
        transform: PIL image -> Tensor[3, H, W], the weights' own preprocessing.
        categories: the class names, from the weights' metadata.
        weights_source: where the weights came from, in words (shown by the UI).
        is_random: True when the weights are a random init (predictions are meaningless).
        device: where the model lives.
        name: architecture name, one of :data:`MODEL_NAMES`.
    """

    model: nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    categories: tuple[str, ...]
    weights_source: str
    is_random: bool
    device: torch.device
    name: str


_cache: dict[tuple[str, str, str], LoadedModel] = {}
_cache_lock = threading.Lock()


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _resolve_name(name: str | None) -> str:
    if name is None:
        env = os.environ.get("DROPLAB_MODEL", "").strip()
        if env and env not in _ARCHS:
            raise ValueError(f"env DROPLAB_MODEL must be one of {MODEL_NAMES}, got {env!r}")
        return env or "resnet50"
    if name not in _ARCHS:
        raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")
    return name


def _resolve_weights(weights: str) -> tuple[str, str]:
    """``(request, label prefix)``: ``"auto"`` replaced by env ``DROPLAB_WEIGHTS`` if set."""
    if not isinstance(weights, str) or not weights.strip():
        raise ValueError(
            f"weights must be 'auto', 'imagenet', 'random' or a file path, got {weights!r}"
        )
    if weights != "auto":
        return weights, ""
    env = os.environ.get("DROPLAB_WEIGHTS", "").strip()
    if not env or env == "auto":
        return "auto", ""
    return env, f"DROPLAB_WEIGHTS={env}: "


def _cache_file(meta: WeightsEnum) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(meta.url))


def _host_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _check_state_dict(model: nn.Module, state: object, origin: str) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # the usual {"state_dict": ..., "epoch": ...} checkpoint
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(f"{origin} does not hold a state dict (names -> tensors)")
    expected = model.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise WeightsError(
            f"{origin} does not match this architecture: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )
    for key, ref in expected.items():
        got = state[key]
        if got.shape != ref.shape:
            raise WeightsError(
                f"{origin}: {key} has shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise WeightsError(f"{origin}: {key} contains NaN or infinite values")
    return state


def _read_file(model: nn.Module, path: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise WeightsError(
            f"weights file {path!r} does not exist (weights must be 'auto', 'imagenet', "
            f"'random' or a file path)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for damaged files
        raise WeightsError(
            f"weights file {path!r} is corrupt or not a PyTorch file: {type(exc).__name__}: {exc}"
        ) from exc
    return _check_state_dict(model, state, f"weights file {path!r}")


def _imagenet(model: nn.Module, meta: WeightsEnum) -> tuple[dict[str, torch.Tensor], str]:
    cached = _cache_file(meta)
    label = f"torchvision {meta} ({cached})"
    if os.path.isfile(cached):
        return _read_file(model, cached), label
    if not _host_reachable(meta.url):
        raise WeightsError(
            f"no cached {meta} at {cached} and {urlparse(meta.url).hostname} is unreachable; "
            f"copy the file there or pass a local weights file"
        )
    try:
        state = meta.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # network and hash failures come as many types
        raise WeightsError(f"downloading {meta} failed: {type(exc).__name__}: {exc}") from exc
    return _check_state_dict(model, state, f"downloaded {meta}"), f"{label}, downloaded"


def _build(name: str, request: str, prefix: str, device: torch.device) -> LoadedModel:
    builder, meta = _ARCHS[name]
    # Seeded init makes "random" the same model in every process and test run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = builder(weights=None)
    if request == "random":
        state, source = None, f"random init (seed {RANDOM_INIT_SEED})"
    elif request == "imagenet":
        state, source = _imagenet(model, meta)
    elif request == "auto":
        try:
            state, source = _imagenet(model, meta)
        except WeightsError as exc:
            state, source = None, f"random init (seed {RANDOM_INIT_SEED}): {exc}"
            log.warning("DropLab runs with RANDOM weights for %s: %s", name, exc)
    else:
        state, source = _read_file(model, request), f"file {os.path.abspath(request)}"
    if state is not None:
        model.load_state_dict(state)
    model.eval().requires_grad_(False).to(device)
    return LoadedModel(
        model=model,
        transform=meta.transforms(),
        categories=tuple(meta.meta["categories"]),
        weights_source=prefix + source,
        is_random=state is None,
        device=device,
        name=name,
    )


def load(name: str | None = None, weights: str = "auto", device: str | None = None) -> LoadedModel:
    """The shared instance of a pretrained ResNet, built on first use.

    Args:
        name: ``"resnet50"`` or ``"resnet18"``; ``None`` reads env ``DROPLAB_MODEL``
            (default ``"resnet50"``).
        weights: ``"auto"``, ``"imagenet"``, ``"random"`` or a state-dict file path (see the
            module docstring).
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` = CUDA when available, else CPU.

    Returns:
        The :class:`LoadedModel` shared by every caller with the same (name, weights, device).

    Raises:
        WeightsError: weights asked for explicitly cannot be used.
        ValueError: unknown ``name`` or malformed ``weights``.
    """
    name = _resolve_name(name)
    request, prefix = _resolve_weights(weights)
    dev = torch.device(device) if device is not None else default_device()
    if request not in ("auto", "imagenet", "random"):
        request = os.path.abspath(request)
    key = (name, request, str(dev))
    # One lock for all keys: building is rare, and two sessions asking at once must not
    # build (and hold in memory) two copies.
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _build(name, request, prefix, dev)
        return _cache[key]


def clear_cache() -> None:
    """Forget every shared instance (tests; after replacing a weights file)."""
    with _cache_lock:
        _cache.clear()
