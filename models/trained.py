"""Networks trained by the engine, served like the pretrained ResNet-50.

``load_trained(config)`` returns a :class:`~models.loading.LoadedModel` (shared, frozen,
eval mode) whose transform turns any picture into a 28x28 grayscale Fashion-MNIST input,
so every page (masks, Grad-CAM, predictions) works on it unchanged and its predictions are
meaningful without any ImageNet weights.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from PIL import Image, ImageOps

from dropcore.train import CLASSES, RunCache, RunConfig, build_model, load_dataset, make_splits
from dropcore.train.splits import NORMALIZATION

from .loading import LoadedModel, WeightsError, default_device

__all__ = ["fashion_samples", "fashion_transform", "load_trained"]

_cache: dict[tuple[str, str, str], LoadedModel] = {}
_lock = threading.Lock()


def fashion_transform(image: Image.Image) -> torch.Tensor:
    """PIL image -> Tensor[1, 28, 28]: grayscale, fitted into 28x28, normalised.

    Fashion-MNIST shows light garments on black; photos usually have a light background,
    so a mostly light picture is inverted to match.
    """
    gray = ImageOps.grayscale(image)
    gray = ImageOps.pad(gray, (28, 28), color=_background(gray))
    x = torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).float().div_(255)
    x = x.view(1, 28, 28)
    if x.mean() > 0.5:
        x = 1.0 - x
    mean, std = NORMALIZATION["fashion_mnist"]
    return (x - mean[0]) / std[0]


def _background(gray: Image.Image) -> int:
    corners = (gray.getpixel((0, 0)), gray.getpixel((gray.width - 1, gray.height - 1)))
    return sum(int(c) for c in corners) // 2  # type: ignore[arg-type, misc]


def load_trained(
    config: RunConfig, root: str | None = None, device: str | None = None
) -> LoadedModel:
    """The shared instance of ``config``'s trained network.

    Raises:
        WeightsError: the run is not in the cache (not trained yet, or cancelled).
    """
    cache = RunCache(root)
    dev = torch.device(device) if device is not None else default_device()
    key = (str(cache.root), config.key(), str(dev))
    with _lock:
        if key not in _cache:
            _cache[key] = _build(cache, config, dev)
        return _cache[key]


def _build(cache: RunCache, config: RunConfig, device: torch.device) -> LoadedModel:
    if not cache.has(config):
        raise WeightsError(
            f"run {config.key()} ({config.label()}) is not in the cache at "
            f"{cache.root}: train it first"
        )
    data = load_dataset(config.dataset)
    model = build_model(config, data)
    model.load_state_dict(cache.weights(config))
    model.eval().requires_grad_(False).to(device)
    transform: Callable[[Image.Image], torch.Tensor] = fashion_transform
    return LoadedModel(
        model=model,
        transform=transform,
        categories=CLASSES[config.dataset],
        weights_source=f"trained here: {config.label()} (run {config.key()})",
        is_random=False,
        device=device,
        name="small_resnet",
    )


def fashion_samples(n: int = 8) -> list[tuple[Image.Image, str]]:
    """``n`` validation images of Fashion-MNIST (never trained on), one class after another,
    as (28x28 grayscale PIL image, class name)."""
    data = load_dataset("fashion_mnist")
    val = make_splits(data, 10, 2000).val
    labels = data.train_labels[val]
    picked: list[int] = []
    for i in range(n):
        idx = (labels == i % 10).nonzero().flatten()
        picked.append(int(val[idx[i // 10]]))
    return [
        (
            Image.fromarray(data.train_images[j, 0].numpy(), mode="L"),
            CLASSES["fashion_mnist"][int(data.train_labels[j])],
        )
        for j in picked
    ]
