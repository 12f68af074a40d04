"""What a run records: one :class:`EpochRecord` per epoch and a :class:`RunResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .config import RunConfig

__all__ = ["EpochRecord", "RunResult"]


@dataclass(frozen=True)
class EpochRecord:
    """Measurements after one epoch.

    Attributes:
        epoch: 1-based.
        train_loss, train_acc: means over the epoch's training batches (train mode, masks on).
        train_eval_acc: accuracy on (up to 500 of) the training images in eval mode.
        val_loss, val_acc: on the fixed validation split, eval mode.
        gap: ``train_eval_acc - val_acc`` (both in eval mode).
        rate: the recipe's drop rate at the end of the epoch (schedule included).
        dropped: site -> mean fraction actually dropped over the epoch's training forwards.
        target: site -> mean rate the site was set to over the epoch.
        seconds: wall time of the epoch, evaluation included.
    """

    epoch: int
    train_loss: float
    train_acc: float
    train_eval_acc: float
    val_loss: float
    val_acc: float
    gap: float
    rate: float
    dropped: dict[str, float]
    target: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class RunResult:
    """A finished run (the weights live beside it in the cache, see :mod:`.cache`).

    Attributes:
        config: the run's configuration.
        epochs: one record per epoch.
        test_loss, test_acc: on the dataset's whole test set (10,000 images), final weights.
        best_val_acc, best_epoch: the best validation accuracy and its (1-based) epoch.
        seconds: wall time of the whole run.
        environment: torch version, device, threads, data source (for reading the figures).
    """

    config: RunConfig
    epochs: tuple[EpochRecord, ...]
    test_loss: float
    test_acc: float
    best_val_acc: float
    best_epoch: int
    seconds: float
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def final(self) -> EpochRecord:
        """The last epoch's record."""
        return self.epochs[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["config"] = self.config.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            config=RunConfig.from_dict(data["config"]),
            epochs=tuple(EpochRecord(**e) for e in data["epochs"]),
            **{k: v for k, v in data.items() if k not in ("config", "epochs")},
        )
