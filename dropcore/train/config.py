"""``RunConfig``: everything that determines a training run, frozen and hashable."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from .._validate import check_choice, check_flag, check_index, check_positive_int, check_probability
from ..gamma import GammaMode, Seeding
from ..probe.settings import Method, ProbeSettings, Stage, Where
from ..recipe import Recipe
from ..schedule import LinearSchedule, keep_probability
from .data import DATASETS
from .smallnet import SMALL_WIDTHS

__all__ = [
    "BLOCK_MASK_STREAM",
    "CONNECT_MASK_STREAM",
    "DROPOUT_MASK_STREAM",
    "ENGINE_VERSION",
    "MODELS",
    "OPTIMIZERS",
    "RunConfig",
]

# Part of every cache key: bump it when a change to the engine changes results.
ENGINE_VERSION = 1
# Part of the key of runs that draw element-wise dropout masks (method "dropout" or a
# classifier dropout): 2 when they came from the recipe's "fast" sampler, 3 since the
# "counter" sampler. Only those runs' results changed, so every other run keeps its key.
DROPOUT_MASK_STREAM = 3
# Part of the key of DropBlock and of DropConnect runs: 2 since their masks come from the
# "counter" sampler (absent, i.e. 1, before).
BLOCK_MASK_STREAM = 2
CONNECT_MASK_STREAM = 2
DatasetName = Literal["fashion_mnist", "cifar10"]
ModelName = Literal["small_resnet"]
OptimizerName = Literal["sgd", "adam"]
MODELS: tuple[ModelName, ...] = ("small_resnet",)
OPTIMIZERS: tuple[OptimizerName, ...] = ("sgd", "adam")


def _check_real(value: object, name: str, *, positive: bool) -> float:
    """A finite float, > 0 (``positive``) or >= 0, else ``ValueError`` naming it."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    as_float = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(as_float) and (as_float > 0 if positive else as_float >= 0)):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return as_float


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One training run, fully described: same config, same curves (bit for bit on CPU).

    Data:
        dataset: ``"fashion_mnist"`` (default) or ``"cifar10"`` (only when on disk).
        train_size: images in the class-balanced training subset (multiple of 10).
        val_size: images in the fixed validation split (held out of the training set,
            the same for every run).
    Model:
        model: ``"small_resnet"``; widths: channels of its four stages.
    Regularizer (as :class:`dropcore.Recipe`):
        method, p, block_size, gamma, seeding, per_channel, inverted, stages, where,
        depth_scaling, classifier_p; schedule: lower keep_prob linearly from
        ``schedule_start_keep`` to ``1 - p`` over the whole run (False: fixed p).
    Optimisation:
        epochs, batch_size, optimizer (``"sgd"`` with momentum or ``"adam"``), lr (cosine
        decay to 0 per step), momentum, weight_decay.
    seed: model init, batch order and masks.
    """

    dataset: DatasetName = "fashion_mnist"
    train_size: int = 2000
    val_size: int = 2000
    model: ModelName = "small_resnet"
    widths: tuple[int, ...] = SMALL_WIDTHS
    method: Method = "none"
    p: float = 0.1
    block_size: int = 7
    gamma: GammaMode = "exact"
    seeding: Seeding = "uniform"
    per_channel: bool = True
    inverted: bool = True
    stages: tuple[Stage, ...] = ("layer3", "layer4")
    where: Where = "both"
    depth_scaling: bool = False
    classifier_p: float = 0.0
    schedule: bool = False
    schedule_start_keep: float = 1.0
    epochs: int = 15
    batch_size: int = 32
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.dataset, "dataset", DATASETS)
        check_choice(self.model, "model", MODELS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        for name in ("train_size", "val_size", "epochs", "batch_size"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        if self.train_size % 10:
            raise ValueError(
                f"train_size must be a multiple of 10 (balanced), got {self.train_size}"
            )
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "lr", _check_real(self.lr, "lr", positive=True))
        object.__setattr__(self, "momentum", check_probability(self.momentum, "momentum"))
        object.__setattr__(
            self, "weight_decay", _check_real(self.weight_decay, "weight_decay", positive=False)
        )
        object.__setattr__(
            self,
            "schedule_start_keep",
            check_probability(self.schedule_start_keep, "schedule_start_keep"),
        )
        check_index(self.seed, "seed", 0, 2**63)
        check_flag(self.schedule, "schedule")
        self.settings()  # validates every regularizer field, even those the method ignores
        self._canonicalize()
        settings = self.settings()  # normalises stages
        object.__setattr__(self, "stages", settings.stages)
        object.__setattr__(self, "p", settings.p)
        object.__setattr__(
            self, "classifier_p", check_probability(self.classifier_p, "classifier_p")
        )

    def _canonicalize(self) -> None:
        # Fields a method ignores get their defaults, so equal runs share one cache key.
        defaults = {f.name: f.default for f in fields(self)}
        ignored: tuple[str, ...] = ()
        if self.method == "none":
            ignored = (
                "p",
                "block_size",
                "gamma",
                "seeding",
                "per_channel",
                "inverted",
                "stages",
                "where",
                "depth_scaling",
                "schedule",
                "schedule_start_keep",
            )
            object.__setattr__(self, "p", 0.0)
        elif self.method != "drop_block":
            ignored = ("block_size", "gamma", "seeding", "per_channel")
        if self.method not in ("none", "dropout"):
            ignored += ("inverted",)
        if not self.schedule:
            ignored += ("schedule_start_keep",)
        for name in ignored:
            if name != "p":
                object.__setattr__(self, name, defaults[name])

    def settings(self) -> ProbeSettings:
        """The regularizer part as :class:`ProbeSettings` (for the probe and Grad-CAM)."""
        return ProbeSettings(
            method=self.method,
            p=self.p,
            block_size=self.block_size,
            gamma=self.gamma,
            seeding=self.seeding,
            per_channel=self.per_channel,
            inverted=self.inverted,
            stages=self.stages,
            where=self.where,
            depth_scaling=self.depth_scaling,
        )

    def recipe(self, total_steps: int) -> Recipe:
        """The :class:`dropcore.Recipe` of this run (``total_steps`` spans the schedule)."""
        schedule = None
        if self.schedule and self.method != "none":
            schedule = LinearSchedule(
                start_keep=self.schedule_start_keep,
                end_keep=keep_probability(self.p),
                total_steps=total_steps,
            )
        s = asdict(self.settings())
        return Recipe(
            **s,
            schedule=schedule,
            classifier_p=self.classifier_p,
            seed=self.seed,
            sampler="counter",  # DROPOUT_MASK_STREAM 3, BLOCK_ and CONNECT_MASK_STREAM 2
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing ones default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}")
        kwargs: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**kwargs)

    def key(self) -> str:
        """Cache key: a hash of every field, the engine version and the version of the
        random streams the run's masks come from."""
        versions: dict[str, int] = {"engine": ENGINE_VERSION}
        if self.method == "dropout" or self.classifier_p > 0:
            versions["dropout_masks"] = DROPOUT_MASK_STREAM
        if self.method == "drop_block":
            versions["block_masks"] = BLOCK_MASK_STREAM
        if self.method == "drop_connect":
            versions["connect_masks"] = CONNECT_MASK_STREAM
        blob = json.dumps({**versions, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def label(self) -> str:
        """Short human name, e.g. ``"drop_block keep 0.9 bs 7, seed 0"``."""
        if self.method == "none":
            reg = "none"
        else:
            reg = f"{self.method} keep {round(keep_probability(self.p), 4):g}"
            if self.method == "drop_block":
                reg += f" bs {self.block_size}"
            if self.schedule:
                reg += " (scheduled)"
        if self.classifier_p:
            reg += f" + fc dropout {self.classifier_p:g}"
        return f"{reg}, seed {self.seed}"
