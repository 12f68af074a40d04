"""A training recipe: which regularizer, where, how strong, on what schedule."""

from __future__ import annotations

from dataclasses import dataclass

from .._sampling import MASK_SAMPLERS, MaskSampler
from .._validate import check_choice, check_index, check_probability
from ..probe.settings import ProbeSettings
from ..schedule import LinearSchedule

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe(ProbeSettings):
    """Where and how a regularizer acts while a ResNet trains.

    Every field of :class:`~dropcore.ProbeSettings` (method, p, block_size, gamma, seeding,
    per_channel, inverted, stages, blocks, where, depth_scaling) means the same here, plus:

    Attributes:
        schedule: keep_prob over training steps; ``None`` keeps ``p`` fixed. When given,
            ``p`` must be its final rate (``1 - schedule.end_keep``).
        classifier_p: dropout on the input of the final linear layer (0 = none); fixed.
        seed: seed of the mask streams (mixed with the DDP rank and DataLoader worker).
        sampler: how element-wise dropout masks (method ``"dropout"`` and the classifier's),
            DropConnect's weight masks and DropBlock masks are drawn on the CPU.
            ``"counter"`` (default): one pass per mask from a counter-based stream seeded
            by the run's generator (keep_prob rounded to 2**-16 as with ``"fast"``; needs
            numba for speed, see :func:`dropcore.dropout`). ``"fast"`` (dropout from
            16-bit lanes of torch's stream) and ``"bernoulli"`` (``bernoulli_``) give each
            site the output of the public function for the same generator state. On CUDA
            all three draw with torch's generator.

    Example:
        >>> Recipe(method="drop_block", p=0.1, block_size=7, stages=("layer3", "layer4"),
        ...        schedule=LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=10_000))
    """

    schedule: LinearSchedule | None = None
    classifier_p: float = 0.0
    seed: int = 0
    sampler: MaskSampler = "counter"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.sampler, "sampler", MASK_SAMPLERS)
        if self.schedule is not None:
            if not isinstance(self.schedule, LinearSchedule):
                raise ValueError(
                    f"schedule must be a LinearSchedule or None, got {self.schedule!r}"
                )
            final = self.schedule.drop_prob(self.schedule.total_steps)
            if abs(final - self.p) > 1e-9:
                raise ValueError(
                    f"p={self.p!r} differs from the schedule's final rate {final!r} "
                    f"(1 - end_keep); pass p={final!r}"
                )
        object.__setattr__(
            self, "classifier_p", check_probability(self.classifier_p, "classifier_p")
        )
        check_index(self.seed, "seed", 0)

    def rate(self, step: float) -> float:
        """The recipe's drop rate at training ``step`` (``p`` when there is no schedule)."""
        return self.p if self.schedule is None else self.schedule.drop_prob(step)
