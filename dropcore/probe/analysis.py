"""Summaries of a probe for the pages: prediction changes and drop rates.

Probabilities are computed in float64 so that tiny probabilities and KL terms stay exact
enough to display. ``baseline_logits`` is Tensor[K]; ``logits`` is Tensor[S, K] (S draws)
or Tensor[K] (one draw).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .result import ProbeResult

__all__ = [
    "DropRow",
    "TopKEntry",
    "drop_table",
    "entropy",
    "flip_rate",
    "kl_divergence",
    "probabilities",
    "topk_with_delta",
]


def _pair(baseline_logits: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if baseline_logits.ndim != 1:
        raise ValueError(
            f"baseline_logits must be 1-d [K], got shape {tuple(baseline_logits.shape)}"
        )
    draws = logits.unsqueeze(0) if logits.ndim == 1 else logits
    if draws.ndim != 2 or draws.shape[1] != baseline_logits.shape[0]:
        raise ValueError(
            f"logits must be [S, K] or [K] with K = {baseline_logits.shape[0]}, got "
            f"shape {tuple(logits.shape)}"
        )
    return baseline_logits.double(), draws.double()


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, in float64."""
    return torch.softmax(logits.double(), dim=-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of the softmax of logits (Tensor[..., K]) -> Tensor[...]."""
    log_p = torch.log_softmax(logits.double(), dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def kl_divergence(baseline_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(baseline || draw) in nats per draw: how far each draw's prediction moved.

    Returns:
        Tensor[S] (float64), >= 0.
    """
    base, draws = _pair(baseline_logits, logits)
    log_b = torch.log_softmax(base, dim=-1)
    log_d = torch.log_softmax(draws, dim=-1)
    return (log_b.exp() * (log_b - log_d)).sum(-1).clamp_min(0.0)


def flip_rate(baseline_logits: torch.Tensor, logits: torch.Tensor) -> float:
    """Fraction of draws whose top-1 class differs from the baseline's."""
    base, draws = _pair(baseline_logits, logits)
    return float((draws.argmax(-1) != base.argmax()).double().mean())


@dataclass(frozen=True)
class TopKEntry:
    """One class of a top-k table.

    Attributes:
        index: class index.
        name: class name (None without ``categories``).
        prob: mean probability over the draws.
        prob_std: spread of the probability over the draws (population std; 0 for 1 draw).
        baseline_prob: probability without regularizer.
        delta: ``prob - baseline_prob``.
        baseline_rank: rank of the class in the baseline (0 = top-1).
    """

    index: int
    name: str | None
    prob: float
    prob_std: float
    baseline_prob: float
    delta: float
    baseline_rank: int


def topk_with_delta(
    baseline_logits: torch.Tensor,
    logits: torch.Tensor,
    k: int = 5,
    categories: Sequence[str] | None = None,
) -> tuple[TopKEntry, ...]:
    """The ``k`` classes most probable under the regularizer (mean over draws), with how
    their probability changed from the baseline.
    """
    base, draws = _pair(baseline_logits, logits)
    classes = base.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= classes:
        raise ValueError(f"k must be an integer in [1, {classes}], got {k!r}")
    if categories is not None and len(categories) != classes:
        raise ValueError(f"categories has {len(categories)} names for {classes} classes")
    p_base = torch.softmax(base, -1)
    p_draws = torch.softmax(draws, -1)
    mean, std = p_draws.mean(0), p_draws.std(0, correction=0)
    rank = torch.empty(classes, dtype=torch.int64)
    rank[torch.argsort(p_base, descending=True)] = torch.arange(classes)
    top = torch.topk(mean, k).indices.tolist()
    return tuple(
        TopKEntry(
            index=i,
            name=categories[i] if categories is not None else None,
            prob=float(mean[i]),
            prob_std=float(std[i]),
            baseline_prob=float(p_base[i]),
            delta=float(mean[i] - p_base[i]),
            baseline_rank=int(rank[i]),
        )
        for i in top
    )


@dataclass(frozen=True)
class DropRow:
    """Measured vs asked-for drop rate at one site.

    Attributes:
        site: site name.
        target_p: drop probability asked for.
        expected_drop: analytic expected fraction (below ``target_p`` for DropBlock's
            paper gamma, whose formula ignores block overlap).
        measured_drop: fraction dropped over the probe's draws.
        deviation: ``measured_drop - expected_drop`` (sampling noise only, if correct).
    """

    site: str
    target_p: float
    expected_drop: float
    measured_drop: float
    deviation: float


def drop_table(result: ProbeResult) -> tuple[DropRow, ...]:
    """One :class:`DropRow` per site of ``result``, in forward order."""
    return tuple(
        DropRow(
            site=s.name,
            target_p=s.target_p,
            expected_drop=s.expected_drop,
            measured_drop=s.measured_drop,
            deviation=s.measured_drop - s.expected_drop,
        )
        for s in result.sites
    )
