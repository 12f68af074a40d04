"""Mean and spread over seeds: the rows of a comparison table and the bands of its curves."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .result import RunResult

__all__ = ["CURVE_FIELDS", "Curve", "MeanSd", "Row", "curves", "summarize"]

CURVE_FIELDS: tuple[str, ...] = (
    "train_loss",
    "train_acc",
    "train_eval_acc",
    "val_loss",
    "val_acc",
    "gap",
)


@dataclass(frozen=True)
class MeanSd:
    """Mean and sample standard deviation over seeds (sd 0 for one seed), and n."""

    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanSd:
        """From the per-seed values."""
        if not values:
            raise ValueError("MeanSd.of needs at least one value")
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), sd, len(values))

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.sd:.4f}" if self.n > 1 else f"{self.mean:.4f}"


@dataclass(frozen=True)
class Row:
    """One variant of a comparison, over its seeds.

    Attributes:
        label: the variant.
        best_val_acc, final_val_acc, test_acc, gap (final epoch), final_train_acc.
        dropped: mean fraction actually dropped over all sites in the last epoch.
        target: mean rate the sites were set to in the last epoch.
        seconds: mean wall time of a run.
    """

    label: str
    best_val_acc: MeanSd
    final_val_acc: MeanSd
    test_acc: MeanSd
    gap: MeanSd
    final_train_acc: MeanSd
    dropped: MeanSd
    target: MeanSd
    seconds: MeanSd


def _site_mean(values: dict[str, float]) -> float:
    return statistics.fmean(values.values()) if values else 0.0


def summarize(results: dict[str, list[RunResult]]) -> list[Row]:
    """One :class:`Row` per variant label (in the given order) from its runs' results."""
    rows = []
    for label, runs in results.items():
        if not runs:
            continue
        rows.append(
            Row(
                label=label,
                best_val_acc=MeanSd.of([r.best_val_acc for r in runs]),
                final_val_acc=MeanSd.of([r.final.val_acc for r in runs]),
                test_acc=MeanSd.of([r.test_acc for r in runs]),
                gap=MeanSd.of([r.final.gap for r in runs]),
                final_train_acc=MeanSd.of([r.final.train_acc for r in runs]),
                dropped=MeanSd.of([_site_mean(r.final.dropped) for r in runs]),
                target=MeanSd.of([_site_mean(r.final.target) for r in runs]),
                seconds=MeanSd.of([r.seconds for r in runs]),
            )
        )
    return rows


@dataclass(frozen=True)
class Curve:
    """One metric of one variant per epoch: mean and sd over the seeds that reached it."""

    label: str
    metric: str
    epochs: tuple[int, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]


def curves(records: dict[str, list[Sequence[object]]], metric: str) -> list[Curve]:
    """Per-variant curves of ``metric`` from per-seed epoch records (finished or live).

    Args:
        records: variant label -> one sequence of :class:`EpochRecord` per seed.
        metric: one of :data:`CURVE_FIELDS`.
    """
    if metric not in CURVE_FIELDS:
        raise ValueError(f"metric must be one of {CURVE_FIELDS}, got {metric!r}")
    out = []
    for label, per_seed in records.items():
        longest = max((len(s) for s in per_seed), default=0)
        epochs, mean, sd = [], [], []
        for i in range(longest):
            values = [float(getattr(s[i], metric)) for s in per_seed if len(s) > i]
            stats = MeanSd.of(values)
            epochs.append(i + 1)
            mean.append(stats.mean)
            sd.append(stats.sd)
        out.append(Curve(label, metric, tuple(epochs), tuple(mean), tuple(sd)))
    return out
