"""Lessons: the seeds' claims as small, honest experiments (lists of run configurations).

Each lesson is a question, the variants that answer it, and how to read the outcome. Sizes:
``"lesson"`` is the default run (1,000 images x 10 epochs, about half a minute on a
2-core CPU: small sets overfit, which is the point); ``"quick"`` (500 x 4) is for a first
look and for tests. Every variant runs once per seed; a lesson never claims to have
reproduced the paper's ImageNet numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .._validate import check_choice, check_positive_int
from ..schedule import drop_probability
from .config import RunConfig

__all__ = ["LESSONS", "SIZES", "Lesson", "Variant", "lesson_runs"]

SIZES: dict[str, dict[str, Any]] = {
    "lesson": {"train_size": 1000, "epochs": 10},
    "quick": {"train_size": 500, "epochs": 4},
}
# The paper's best keep_prob per method (dropout 0.7, SpatialDropout and DropBlock 0.9).
_PAPER: dict[str, dict[str, Any]] = {
    "none": {"method": "none"},
    "dropout": {"method": "dropout", "p": 0.3},
    "spatial_dropout": {"method": "spatial_dropout", "p": 0.1},
    "drop_block": {"method": "drop_block", "p": 0.1, "block_size": 7},
    "drop_path": {"method": "drop_path", "p": 0.1},
    "drop_connect": {"method": "drop_connect", "p": 0.1},
}


@dataclass(frozen=True)
class Variant:
    """One arm of a lesson: a label and the config fields it sets (on top of the size)."""

    label: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Lesson:
    """A question and the runs that answer it.

    Attributes:
        key: URL-safe name; title: short name; question: what it asks.
        how_to_read: what to look at in the result, in plain words.
        variants: the arms (``method`` parameterised lessons fill it per method).
    """

    key: str
    title: str
    question: str
    how_to_read: str
    variants: tuple[Variant, ...]


def _v(label: str, **fields: Any) -> Variant:
    return Variant(label, fields)


def _keep_sweep(method: str) -> tuple[Variant, ...]:
    base = {k: v for k, v in _PAPER[method].items() if k != "p"}
    return (_v("none", method="none"),) + tuple(
        _v(f"keep {keep}", **base, p=drop_probability(keep)) for keep in (0.95, 0.9, 0.8, 0.7)
    )


LESSONS: dict[str, Lesson] = {
    lesson.key: lesson
    for lesson in (
        Lesson(
            "methods",
            "Every method at its paper setting",
            "Does each regularizer narrow the gap between training and validation?",
            "Look at the gap column and at validation accuracy together: a method that "
            "shrinks the gap but also lowers validation accuracy underfits.",
            tuple(_v(m, **f) for m, f in _PAPER.items()),
        ),
        Lesson(
            "keep_sweep",
            "keep_prob sweep",
            "Where is this method's best keep_prob?",
            "Best validation accuracy against keep_prob: too little dropping overfits, "
            "too much underfits. The paper's best: dropout 0.7, SpatialDropout and "
            "DropBlock 0.9 (on ImageNet).",
            _keep_sweep("drop_block"),
        ),
        Lesson(
            "block_size",
            "DropBlock block size",
            "Does a 7x7 block regularize more than small blocks?",
            "block_size 1 is per-channel dropout; the paper found 7 best on ImageNet. "
            "Compare validation accuracy and CAM spread, not just the gap.",
            (_v("none", method="none"),)
            + tuple(
                _v(f"block {b}", method="drop_block", p=0.1, block_size=b) for b in (1, 3, 5, 7)
            ),
        ),
        Lesson(
            "schedule",
            "Scheduled vs fixed keep_prob",
            "Does lowering keep_prob from 1.0 to 0.9 over training beat a fixed 0.9?",
            "The schedule starts unregularized, so early epochs fit faster; judge the "
            "final validation and test accuracy with their spread over seeds.",
            (
                _v("none", method="none"),
                _v("fixed 0.9", method="drop_block", p=0.1, block_size=7),
                _v("1.0 -> 0.9", method="drop_block", p=0.1, block_size=7, schedule=True),
            ),
        ),
        Lesson(
            "sites",
            "Where to drop",
            "Last stage or last two? Residual branch only, or branch and shortcut?",
            "The paper applies DropBlock to groups 3 and 4, on branch and shortcut.",
            (
                _v("none", method="none"),
                _v(
                    "layer4, branch", method="drop_block", p=0.1, stages=("layer4",), where="branch"
                ),
                _v("layer3+4, branch", method="drop_block", p=0.1, where="branch"),
                _v("layer3+4, both", method="drop_block", p=0.1, where="both"),
            ),
        ),
        Lesson(
            "train_size",
            "Training-set size vs gap",
            "How does the gap depend on how much data there is?",
            "Small sets overfit most, and that is where a regularizer helps most.",
            tuple(
                _v(f"{reg} {n}", train_size=n, **f)
                for n in (500, 1000, 2000, 4000)
                for reg, f in (("none", {"method": "none"}), ("DropBlock", _PAPER["drop_block"]))
            ),
        ),
        Lesson(
            "classifier",
            "Dropout before the classifier",
            "Dropout 0.5 on the fully connected layer, alone and with DropBlock.",
            "The articles' typical 0.3-0.5 for fully connected layers; here the "
            "classifier is small, so expect a small effect.",
            (
                _v("none", method="none"),
                _v("fc dropout 0.5", method="none", classifier_p=0.5),
                _v("DropBlock", **_PAPER["drop_block"]),
                _v("DropBlock + fc 0.5", **_PAPER["drop_block"], classifier_p=0.5),
            ),
        ),
    )
}


def lesson_runs(
    lesson: str,
    seeds: int = 1,
    size: str = "lesson",
    method: str | None = None,
) -> list[tuple[str, RunConfig]]:
    """(variant label, config) for every variant and seed ``0 .. seeds-1`` of a lesson.

    Args:
        lesson: a key of :data:`LESSONS`.
        seeds: runs per variant.
        size: ``"lesson"`` or ``"quick"`` (see :data:`SIZES`).
        method: for ``"keep_sweep"``, the method swept (default DropBlock).
    """
    check_choice(lesson, "lesson", tuple(LESSONS))
    check_choice(size, "size", tuple(SIZES))
    seeds = check_positive_int(seeds, "seeds")
    variants = LESSONS[lesson].variants
    if lesson == "keep_sweep" and method is not None:
        check_choice(method, "method", tuple(m for m in _PAPER if m != "none"))
        variants = _keep_sweep(method)
    base = RunConfig(**SIZES[size])
    return [
        (v.label, replace(base, **{**v.fields, "seed": seed}))
        for v in variants
        for seed in range(seeds)
    ]
