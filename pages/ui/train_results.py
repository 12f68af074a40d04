"""The Train page's results: the table per variant, how to read it, and its records.

Numbers come from :func:`dropcore.train.summary.summarize`; here they are laid out and put
into words. The words compare means against the spread over seeds and never claim more
than this small run measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from dropcore.train import RunResult
from dropcore.train.summary import MeanSd, Row

from .train_controls import Plan

__all__ = ["HONESTY", "curve_records", "reading", "show_table", "table_records"]

HONESTY = (
    "These are small ResNets trained here on a few thousand Fashion-MNIST images: they "
    "show what each regularizer does at this scale, measured with its spread over seeds. "
    "They do not reproduce the DropBlock paper's ImageNet figures (ResNet-50 76.5% → "
    "78.1% top-1), and published differences at CIFAR scale are tenths of a point."
)
_FIELDS = (
    "best_val_acc",
    "final_val_acc",
    "test_acc",
    "gap",
    "final_train_acc",
    "dropped",
    "target",
    "seconds",
)


def table_records(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """One flat record per variant: every figure's mean and sd as numbers (CSV/JSON)."""
    out = []
    for row in rows:
        record: dict[str, Any] = {"variant": row.label, "seeds": row.test_acc.n}
        for name in _FIELDS:
            value: MeanSd = getattr(row, name)
            record[f"{name}_mean"] = value.mean
            record[f"{name}_sd"] = value.sd
        out.append(record)
    return out


def _pm(value: MeanSd) -> str:
    """A fraction as percent (or points), with its spread when there is one."""
    if value.n < 2:
        return f"{value.mean * 100:.1f}"
    return f"{value.mean * 100:.1f} ± {value.sd * 100:.1f}"


def show_table(rows: Sequence[Row]) -> None:
    """The comparison table: accuracies in %, mean ± sd over seeds."""
    display = [
        {
            "variant": r.label,
            "seeds": r.test_acc.n,
            "best val acc %": _pm(r.best_val_acc),
            "final val acc %": _pm(r.final_val_acc),
            "test acc %": _pm(r.test_acc),
            "gap (points)": _pm(r.gap),
            "dropped / target": (
                f"{r.dropped.mean:.3f} / {r.target.mean:.3f}" if r.target.mean > 0 else "-"
            ),
            "s per run": f"{r.seconds.mean:.1f}",
        }
        for r in rows
    ]
    st.dataframe(
        display,
        hide_index=True,
        column_config={
            "best val acc %": st.column_config.TextColumn(
                help="Best validation accuracy over the epochs (mean ± sd over seeds)."
            ),
            "final val acc %": st.column_config.TextColumn(
                help="Validation accuracy after the last epoch."
            ),
            "test acc %": st.column_config.TextColumn(
                help="The final network on all 10,000 test images (never used to choose anything)."
            ),
            "gap (points)": st.column_config.TextColumn(
                help="Training accuracy minus validation accuracy after the last epoch, "
                "both measured without dropping (eval mode)."
            ),
            "dropped / target": st.column_config.TextColumn(
                help="Mean fraction of units actually dropped per training forward in the "
                "last epoch, against the rate asked for (averaged over sites). A "
                "regularizer that drops 0 was never applied."
            ),
        },
    )


def _best(rows: Sequence[Row], name: str, high: bool) -> Row:
    pick = max if high else min
    return pick(rows, key=lambda r: getattr(r, name).mean)


def _within_spread(a: MeanSd, b: MeanSd) -> bool:
    return abs(a.mean - b.mean) <= a.sd + b.sd


def reading(rows: Sequence[Row]) -> list[str]:
    """Plain sentences about what this table shows (and does not)."""
    if not rows:
        return []
    lines = []
    test, gap = _best(rows, "test_acc", True), _best(rows, "gap", False)
    lines.append(
        f"Highest test accuracy: **{test.label}** ({_pm(test.test_acc)}%). "
        f"Smallest gap: **{gap.label}** ({_pm(gap.gap)} points)."
    )
    if test.label != gap.label:
        lines.append(
            "The smallest gap is not the best test accuracy: a regularizer can "
            "close the gap by pulling training accuracy down more than it lifts "
            "validation accuracy (it underfits)."
        )
    base = next((r for r in rows if r.label.lower() in ("none", "no regularizer")), None)
    if base is not None and rows[0].test_acc.n > 1:
        tied = [
            r.label for r in rows if r is not base and _within_spread(r.test_acc, base.test_acc)
        ]
        if tied:
            lines.append(
                f"Within the spread over seeds of the plain network's test "
                f"accuracy: {', '.join(tied)}. These runs cannot tell them apart."
            )
    if rows[0].test_acc.n < 2:
        lines.append(
            "One seed per variant: there is no spread to judge a difference by. "
            "Use 3 or more seeds before concluding anything."
        )
    idle = [r.label for r in rows if r.target.mean > 0 and r.dropped.mean == 0]
    if idle:
        lines.append(
            f"**Never applied:** {', '.join(idle)} dropped nothing although a rate was set."
        )
    return lines


def curve_records(plan: Plan, results: dict[str, list[RunResult]]) -> list[dict[str, Any]]:
    """Every epoch of every finished run: variant, seed, run key and the epoch's figures."""
    out = []
    for variant in plan.variants:
        for result in results.get(variant.label, []):
            for e in result.epochs:
                out.append(
                    {
                        "variant": variant.label,
                        "seed": result.config.seed,
                        "run": result.config.key(),
                        "epoch": e.epoch,
                        "train_loss": e.train_loss,
                        "train_acc": e.train_acc,
                        "train_eval_acc": e.train_eval_acc,
                        "val_loss": e.val_loss,
                        "val_acc": e.val_acc,
                        "gap": e.gap,
                        "rate": e.rate,
                        "dropped_mean": (
                            sum(e.dropped.values()) / len(e.dropped) if e.dropped else 0.0
                        ),
                        "seconds": e.seconds,
                    }
                )
    return out
