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


@dataclass(frozen=True)
class _Split:
    """The run's training and validation images (normalized) and labels, on the device.

    Attributes:
        x_train (Tensor[n, C, H, W]), y_train (Tensor[n]): the training split.
        x_val (Tensor[m, C, H, W]), y_val (Tensor[m]): the validation split.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor

    @classmethod
    def of(cls, config: RunConfig, data: Dataset, device: torch.device) -> _Split:
        splits = make_splits(data, config.train_size, config.val_size)
        return cls(
            x_train=normalize(data.train_images[splits.train], data.name).to(device),
            y_train=data.train_labels[splits.train].to(device),
            x_val=normalize(data.train_images[splits.val], data.name).to(device),
            y_val=data.train_labels[splits.val].to(device),
        )


@dataclass
class _Run:
    """What every epoch of one :func:`train` call uses, and the steps done so far."""

    config: RunConfig
    split: _Split
    model: nn.Module
    reg: Regularized
    opt: torch.optim.Optimizer
    order: torch.Generator  # the batch order's stream
    total: int  # optimizer steps of the whole run
    start: float  # perf_counter() when the run started
    step: int = 0

    def epoch(
        self,
        epoch: int,
        progress: Callable[[Progress], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> EpochRecord:
        """Train one epoch (1-based ``epoch``) and evaluate it."""
        t0 = time.perf_counter()
        config, x, y = self.config, self.split.x_train, self.split.y_train
        self.model.train()
        meter = _Meter(self.reg)
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        batches = torch.randperm(config.train_size, generator=self.order).split(config.batch_size)
        for idx in batches:
            if should_stop is not None and should_stop():
                raise RunCancelled(f"run {config.key()} cancelled at step {self.step}")
            idx = idx.to(x.device)
            self.reg.set_step(self.step)
            for group in self.opt.param_groups:
                group["lr"] = _lr_at(config, self.step, self.total)
            logits = self.model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            meter.add()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y[idx]).sum()
            self.step += 1
            if progress is not None:
                elapsed = time.perf_counter() - self.start
                progress(Progress(self.step, self.total, epoch - 1, None, elapsed))
        return self._record(epoch, meter, float(loss_sum), int(correct), t0)

    def _record(
        self, epoch: int, meter: _Meter, loss_sum: float, correct: int, t0: float
    ) -> EpochRecord:
        n, split = self.config.train_size, self.split
        few = slice(0, _TRAIN_EVAL_IMAGES)
        _, train_eval_acc = _evaluate(self.model, split.x_train[few], split.y_train[few])
        val_loss, val_acc = _evaluate(self.model, split.x_val, split.y_val)
        dropped, target = meter.means()
        return EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / n,
            train_acc=correct / n,
            train_eval_acc=train_eval_acc,
            val_loss=val_loss,
            val_acc=val_acc,
            gap=train_eval_acc - val_acc,
            rate=self.reg.recipe.rate(self.reg.step + 1),
            dropped=dropped,
            target=target,
            seconds=time.perf_counter() - t0,
        )


def _start(config: RunConfig, data: Dataset, device: torch.device, start: float) -> _Run:
    """The run's data on ``device``, its seeded model, regularizer and optimizer."""
    split = _Split.of(config, data, device)
    # Channels-last: oneDNN's convolutions are faster in it for these narrow layers.
    model = build_model(config, data).to(device).to(memory_format=torch.channels_last)
    total = math.ceil(config.train_size / config.batch_size) * config.epochs
    reg = regularize(model, config.recipe(total))
    opt = _optimizer(config, model)
    order = torch.Generator().manual_seed(mix_seed(config.seed, 2))
    reg.rng.reseed(mix_seed(config.seed, 3))
    return _Run(config, split, model, reg, opt, order, total, start)


def _environment(device: torch.device, data: Dataset) -> dict[str, str]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "torch": torch.__version__,
        "device": f"{device.type} ({name or 'cpu'})",
        "threads": str(torch.get_num_threads()),
        "data": data.source,
    }


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
    run = _start(config, data, device, start)
    records: list[EpochRecord] = []
    for epoch in range(1, config.epochs + 1):
        records.append(run.epoch(epoch, progress, should_stop))
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(Progress(run.step, run.total, epoch, records[-1], elapsed))

    run.reg.remove()
    test_loss, test_acc = math.nan, math.nan
    if evaluate_test:
        x_test = normalize(data.test_images, data.name).to(device)
        test_loss, test_acc = _evaluate(run.model, x_test, data.test_labels.to(device))
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
    state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
    return TrainedRun(result, state)
