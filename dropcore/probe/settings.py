"""What to inject where: the frozen, validated settings of one probe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._validate import (
    check_choice,
    check_flag,
    check_index,
    check_positive_int,
    check_probability,
)
from ..gamma import GAMMA_MODES, SEEDINGS, GammaMode, Seeding
from ..schedule import LinearSchedule

__all__ = ["METHODS", "STAGES", "WHERE", "Method", "ProbeSettings", "Stage", "Where"]

Method = Literal["none", "dropout", "spatial_dropout", "drop_block", "drop_path", "drop_connect"]
Stage = Literal["layer1", "layer2", "layer3", "layer4"]
Where = Literal["branch", "skip", "both"]
METHODS: tuple[Method, ...] = (
    "none",
    "dropout",
    "spatial_dropout",
    "drop_block",
    "drop_path",
    "drop_connect",
)
STAGES: tuple[Stage, ...] = ("layer1", "layer2", "layer3", "layer4")
WHERE: tuple[Where, ...] = ("branch", "skip", "both")


def _check_stages(value: object) -> tuple[Stage, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"stages must be a non-empty tuple of {STAGES}, got {value!r}")
    for stage in value:
        check_choice(stage, "stages entry", STAGES)
    # Network order and no duplicates, so equal selections compare (and hash) equal.
    return tuple(s for s in STAGES if s in value)


def _check_blocks(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"blocks must be None or a non-empty tuple of indices, got {value!r}")
    return tuple(sorted({check_index(index, "blocks entries", 0) for index in value}))


@dataclass(frozen=True)
class ProbeSettings:
    """A regularizer and where to inject it into a ResNet.

    Attributes:
        method: one of :data:`METHODS`; ``"none"`` injects nothing.
        p: drop probability (``1 - keep_prob``); with ``depth_scaling`` the rate of the
            deepest block of the network.
        block_size: DropBlock block edge.
        gamma: DropBlock seed rate, ``"exact"`` or ``"paper"``.
        seeding: DropBlock seed grid, ``"uniform"`` or ``"valid"``.
        per_channel: DropBlock: one mask per channel (paper) or one shared mask.
        inverted: Dropout: rescale kept values by ``1 / keep_prob`` (False: vanilla).
        stages: stages to inject into, a subset of :data:`STAGES` (stored in network order).
        blocks: block indices within each chosen stage (``None``: every block). Every
            index must exist in every chosen stage (checked by :func:`probe`).
        where: ``"branch"`` (residual branch), ``"skip"`` (shortcut) or ``"both"``.
            DropPath only ever drops branches, so it rejects ``"skip"`` and reads ``"both"``
            as the branch. DropConnect acts on the convolutions of the chosen paths (the
            branch convs and/or the downsample conv; an identity skip has no weights).
        depth_scaling: block ``l`` of the ``L`` blocks of the network gets ``p * l / L``
            (stochastic-depth rule; a block's rate does not depend on which others are
            chosen).
        cam_layer: stage whose output Grad-CAM explains.
    """

    method: Method = "drop_block"
    p: float = 0.1
    block_size: int = 7
    gamma: GammaMode = "exact"
    seeding: Seeding = "uniform"
    per_channel: bool = True
    inverted: bool = True
    stages: tuple[Stage, ...] = ("layer3", "layer4")
    blocks: tuple[int, ...] | None = None
    where: Where = "both"
    depth_scaling: bool = False
    cam_layer: Stage = "layer4"

    def __post_init__(self) -> None:
        check_choice(self.method, "method", METHODS)
        object.__setattr__(self, "p", check_probability(self.p, "p"))
        object.__setattr__(self, "block_size", check_positive_int(self.block_size, "block_size"))
        check_choice(self.gamma, "gamma", GAMMA_MODES)
        check_choice(self.seeding, "seeding", SEEDINGS)
        check_flag(self.per_channel, "per_channel")
        check_flag(self.inverted, "inverted")
        object.__setattr__(self, "stages", _check_stages(self.stages))
        object.__setattr__(self, "blocks", _check_blocks(self.blocks))
        check_choice(self.where, "where", WHERE)
        if self.method == "drop_path" and self.where == "skip":
            raise ValueError(
                "where='skip' is not possible with method='drop_path': DropPath drops "
                "residual branches; use where='branch'"
            )
        check_flag(self.depth_scaling, "depth_scaling")
        check_choice(self.cam_layer, "cam_layer", STAGES)

    @classmethod
    def from_schedule(cls, schedule: LinearSchedule, step: float, **kwargs: Any) -> ProbeSettings:
        """Settings with ``p = schedule.drop_prob(step)``; other fields from ``kwargs``."""
        if not isinstance(schedule, LinearSchedule):
            raise ValueError(f"schedule must be a LinearSchedule, got {schedule!r}")
        if "p" in kwargs:
            raise ValueError("from_schedule sets p from the schedule; do not pass p as well")
        return cls(p=schedule.drop_prob(step), **kwargs)
