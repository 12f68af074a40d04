"""``train``: one run of a :class:`RunConfig`, deterministic on CPU.

Randomness comes from three explicit streams derived from ``config.seed`` (model init,
batch order, masks), never from the global RNG state, so a run gives the same curves
whatever ran before it in the process.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..recipe import Regularized, mix_seed, regularize
from .config import RunConfig
from .data import Dataset, load_dataset
from .result import EpochRecord, RunResult
from .smallnet import SmallResNet
from .splits import make_splits, normalize

__all__ = ["Progress", "RunCancelled", "TrainedRun", "build_model", "train"]

_TRAIN_EVAL_IMAGES = 500
_EVAL_BATCH = 1000


class RunCancelled(RuntimeError):
    """Raised inside :func:`train` when ``should_stop()`` returned True."""


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes:
        step: optimizer steps done; total_steps: steps of the whole run.
        epoch: epochs done; record: the epoch's record when one just finished, else None.
        elapsed: seconds since the run started.
    """

    step: int
    total_steps: int
    epoch: int
    record: EpochRecord | None
    elapsed: float


@dataclass(frozen=True)
class TrainedRun:
    """A run's result and its final weights (the plain model's ``state_dict``)."""

    result: RunResult
    state_dict: dict[str, torch.Tensor]


def build_model(config: RunConfig, data: Dataset) -> nn.Module:
    """The untrained model of ``config``, initialised from the run's seed."""
    channels = data.train_images.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mix_seed(config.seed, 1))
        return SmallResNet(channels, len(data.classes), config.widths)


def _optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    other = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]  # no decay on BN and biases
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def _lr_at(config: RunConfig, step: int, total: int) -> float:
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * step / total))


@torch.no_grad()
def _evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(images), _EVAL_BATCH):
        logits = model(images[i : i + _EVAL_BATCH])
        y = labels[i : i + _EVAL_BATCH]
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    return loss_sum / len(images), correct / len(images)


class _Meter:
    """Per-site sums of dropped fractions and targets over an epoch, kept on the device so
    that no step waits for the host."""

    def __init__(self, reg: Regularized) -> None:
        self.reg = reg
        self.dropped: dict[str, torch.Tensor] = {}
        self.target: dict[str, float] = {}
        self.count = 0

    def add(self) -> None:
        for site in self.reg.sites:
            if site.dropped is not None:
                prev = self.dropped.get(site.name)
                self.dropped[site.name] = site.dropped if prev is None else prev + site.dropped
                self.target[site.name] = self.target.get(site.name, 0.0) + site.p
        self.count += 1

    def means(self) -> tuple[dict[str, float], dict[str, float]]:
        n = max(self.count, 1)
        return (
            {k: float(v) / n for k, v in self.dropped.items()},
            {k: v / n for k, v in self.target.items()},
        )


def train(
    config: RunConfig,
    *,
    data: Dataset | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate_test: bool = True,
) -> TrainedRun:
    """Train the model of ``config`` from scratch.

    Args:
        config: the run.
        data: the dataset (default: :func:`load_dataset` of ``config.dataset``).
        device: where to train.
        progress: called after every step and with the record after every epoch.
        should_stop: polled every step; when it returns True the run stops with
            :class:`RunCancelled` (nothing is returned or written).
        evaluate_test: evaluate the final weights on the whole test set.

    Returns:
        The :class:`TrainedRun` (result and weights on the CPU).
    """
    start = time.perf_counter()
    device = torch.device(device)
    data = data if data is not None else load_dataset(config.dataset)
    splits = make_splits(data, config.train_size, config.val_size)
    x_train = normalize(data.train_images[splits.train], data.name).to(device)
    y_train = data.train_labels[splits.train].to(device)
    x_val = normalize(data.train_images[splits.val], data.name).to(device)
    y_val = data.train_labels[splits.val].to(device)

    # Channels-last: oneDNN's convolutions are faster in it for these narrow layers.
    model = build_model(config, data).to(device).to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(config.train_size / config.batch_size)
    total = steps_per_epoch * config.epochs
    reg = regularize(model, config.recipe(total))
    opt = _optimizer(config, model)
    order_gen = torch.Generator().manual_seed(mix_seed(config.seed, 2))
    reg.rng.reseed(mix_seed(config.seed, 3))

    records: list[EpochRecord] = []
    step = 0
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        meter = _Meter(reg)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for idx in torch.randperm(config.train_size, generator=order_gen).split(config.batch_size):
            if should_stop is not None and should_stop():
                raise RunCancelled(f"run {config.key()} cancelled at step {step}")
            idx = idx.to(device)
            reg.set_step(step)
            for group in opt.param_groups:
                group["lr"] = _lr_at(config, step, total)
            logits = model(x_train[idx])
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            meter.add()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y_train[idx]).sum()
            step += 1
            if progress is not None:
                progress(Progress(step, total, epoch - 1, None, time.perf_counter() - start))
        records.append(
            _epoch_record(
                epoch,
                model,
                reg,
                meter,
                float(loss_sum),
                int(correct),
                config,
                x_train,
                y_train,
                x_val,
                y_val,
                t0,
            )
        )
        if progress is not None:
            progress(Progress(step, total, epoch, records[-1], time.perf_counter() - start))

    reg.remove()
    test_loss, test_acc = math.nan, math.nan
    if evaluate_test:
        x_test = normalize(data.test_images, data.name).to(device)
        test_loss, test_acc = _evaluate(model, x_test, data.test_labels.to(device))
    best = max(records, key=lambda r: r.val_acc)
    result = RunResult(
        config=config,
        epochs=tuple(records),
        test_loss=test_loss,
        test_acc=test_acc,
        best_val_acc=best.val_acc,
        best_epoch=best.epoch,
        seconds=time.perf_counter() - start,
        environment=_environment(device, data),
    )
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return TrainedRun(result, state)


def _epoch_record(
    epoch: int,
    model: nn.Module,
    reg: Regularized,
    meter: _Meter,
    loss_sum: float,
    correct: int,
    config: RunConfig,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    t0: float,
) -> EpochRecord:
    n = config.train_size
    _, train_eval_acc = _evaluate(model, x_train[:_TRAIN_EVAL_IMAGES], y_train[:_TRAIN_EVAL_IMAGES])
    val_loss, val_acc = _evaluate(model, x_val, y_val)
    dropped, target = meter.means()
    return EpochRecord(
        epoch=epoch,
        train_loss=loss_sum / n,
        train_acc=correct / n,
        train_eval_acc=train_eval_acc,
        val_loss=val_loss,
        val_acc=val_acc,
        gap=train_eval_acc - val_acc,
        rate=reg.recipe.rate(reg.step + 1),
        dropped=dropped,
        target=target,
        seconds=time.perf_counter() - t0,
    )


def _environment(device: torch.device, data: Dataset) -> dict[str, str]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "torch": torch.__version__,
        "device": f"{device.type} ({name or 'cpu'})",
        "threads": str(torch.get_num_threads()),
        "data": data.source,
    }
