"""Class-balanced subsets and the fixed validation split, as index tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import Dataset

__all__ = ["NORMALIZATION", "Splits", "make_splits", "normalize"]

# Per-dataset (mean, std) of the training pixels in [0, 1].
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
# The validation split never depends on a run's seed: every run is judged on the same images.
_SPLIT_SEED = 20181203


@dataclass(frozen=True)
class Splits:
    """Index tensors into the dataset's training set (``test`` uses the test set whole).

    Attributes:
        train (Tensor[train_size] int64): class-balanced training subset.
        val (Tensor[val_size] int64): the fixed validation split, disjoint from ``train``.
    """

    train: torch.Tensor
    val: torch.Tensor


def _per_class_order(labels: torch.Tensor, classes: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(_SPLIT_SEED)
    order = torch.randperm(len(labels), generator=gen)
    return [order[labels[order] == c] for c in range(classes)]


def make_splits(data: Dataset, train_size: int, val_size: int) -> Splits:
    """The validation split takes the first ``val_size / classes`` images of each class in
    a fixed shuffled order; the training subset the next ``train_size / classes``. So the
    validation images never change, and a larger training subset contains the smaller.

    Raises:
        ValueError: sizes not divisible by the number of classes, or too large.
    """
    classes = len(data.classes)
    for name, size in (("train_size", train_size), ("val_size", val_size)):
        if size % classes:
            raise ValueError(f"{name} must be a multiple of {classes} (balanced), got {size}")
    per_class = _per_class_order(data.train_labels, classes)
    n_val, n_train = val_size // classes, train_size // classes
    available = min(len(p) for p in per_class)
    if n_val + n_train > available:
        raise ValueError(
            f"train_size + val_size = {train_size + val_size} exceeds the "
            f"{available * classes} training images of {data.name}"
        )
    val = torch.cat([p[:n_val] for p in per_class])
    train = torch.cat([p[n_val : n_val + n_train] for p in per_class])
    return Splits(train=train.sort().values, val=val.sort().values)


def normalize(images: torch.Tensor, dataset: str) -> torch.Tensor:
    """images (Tensor[N, C, H, W] uint8) -> Tensor[N, C, H, W] float32, standardised."""
    mean, std = NORMALIZATION[dataset]
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float().div_(255.0) - m) / s
