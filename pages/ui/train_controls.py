"""The Train page's sidebar: what to compare, as a :class:`Plan` of training runs.

Two ways to fill it: a lesson (one of :data:`dropcore.train.presets.LESSONS`, its variants
fixed, only size, seeds and the swept method left to choose) or "your settings" (any
methods side by side under one shared regularizer setting). Every control is bound to the
URL like the other pages' controls, so a shared link names exactly the same runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dropcore.probe import METHODS
from dropcore.train import RunConfig
from dropcore.train.presets import LESSONS, SIZES, lesson_runs

from . import catalog as c
from .controls import Callback, Choice, Flag, Multi, Panel, Slider

__all__ = [
    "CLASSIFIER",
    "CUSTOM",
    "EPOCHS",
    "LESSON",
    "METHODS_CONTROL",
    "SEEDS",
    "SIZE",
    "SWEEP",
    "TRAIN_SCHEDULE",
    "TRAIN_SIZE",
    "Plan",
    "Variant",
    "train_plan",
]

CUSTOM = "custom"


@dataclass(frozen=True, kw_only=True)
class Pills(Choice):
    """A :class:`Choice` drawn as pills (the lesson picker); one is always selected."""

    def widget(
        self,
        *,
        disabled: bool,
        on_change: Callback | None = None,
        options: Sequence[str] | None = None,
    ) -> str:
        opts = tuple(options) if options is not None else self.options
        default = self.default_value(opts)
        chosen = st.pills(
            self.label,
            opts,
            default=default,
            format_func=self.label_of,
            key=self.key,
            help=self.help,
            disabled=disabled,
            on_change=on_change,
            bind="query-params",
            required=True,
        )
        return default if chosen is None else chosen


LESSON = Pills(
    key="lesson",
    label="Lesson",
    group="method",
    options=(CUSTOM, *LESSONS),
    default="methods",
    labels={CUSTOM: "Your settings", **{k: v.title for k, v in LESSONS.items()}},
    help="Each lesson is a small experiment that asks one question (every variant trained "
    "once per seed). 'Your settings' compares the methods you pick below under one setting.",
)
SIZE = Choice(
    key="size",
    label="Run size",
    group="training",
    options=tuple(SIZES),
    default="lesson",
    style="segmented",
    # The default is the size the project ships results for (the first view is a finished
    # comparison).
    help="How much each run trains: "
    + "; ".join(
        f"'{k}' {v['train_size']:,} images × {v['epochs']} epochs" for k, v in SIZES.items()
    )
    + ". 'quick' is a first look; 'lesson' shows the differences more clearly.",
)
SWEEP = Choice(
    key="sweep",
    label="Method to sweep",
    group="method",
    options=tuple(m for m in METHODS if m != "none"),
    default="drop_block",
    labels=c.METHOD_LABELS,
    help="The keep_prob sweep trains this method at keep_prob 0.95, 0.9, 0.8 and 0.7.",
)
METHODS_CONTROL = Multi(
    key="methods",
    label="Methods to compare",
    group="method",
    options=METHODS,
    default=("none", "dropout", "drop_block"),
    help="Each one is trained with the settings below, once per seed. 'none' is the "
    "plain network every regularizer is judged against.",
)
TRAIN_SCHEDULE = Flag(
    key="sched",
    label="Lower keep_prob linearly during training",
    group="strength",
    default=False,
    help="The paper's schedule: keep_prob falls linearly from the start value to the "
    "keep_prob above over the whole run (it reported this beats a fixed value).",
)
CLASSIFIER = Slider(
    key="fc",
    label="Dropout before the classifier (p)",
    group="sites",
    lo=0.0,
    hi=0.9,
    default=0.0,
    step=0.05,
    fmt="%.2f",
    help="Plain dropout on the features entering the fully connected layer (the "
    "articles' typical 0.3-0.5 for fully connected layers); 0 turns it off.",
)
TRAIN_SIZE = Slider(
    key="n",
    label="Training images",
    group="training",
    lo=100,
    hi=10_000,
    default=2000,
    step=100,
    help="A class-balanced subset of Fashion-MNIST's 60,000 training images. Small sets "
    "overfit, which is where a regularizer shows.",
)
EPOCHS = Slider(
    key="epochs",
    label="Epochs",
    group="training",
    lo=1,
    hi=40,
    default=15,
    step=1,
    help="Passes over the training images (learning rate: cosine decay to 0).",
)
SEEDS = Slider(
    key="seeds",
    label="Seeds",
    group="training",
    lo=1,
    hi=5,
    default=3,
    step=1,
    help="Each variant is trained once per seed (init, batch order and masks differ); "
    "the charts and the table show the mean and the spread over seeds. One seed cannot "
    "tell a real difference from luck.",
)


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: its label and one configuration per seed."""

    label: str
    configs: tuple[RunConfig, ...]


@dataclass(frozen=True)
class Plan:
    """What the page trains and shows: a title, the question, and the variants."""

    title: str
    question: str
    how_to_read: str
    variants: tuple[Variant, ...]

    @property
    def configs(self) -> tuple[RunConfig, ...]:
        """Every run of the plan, variant by variant."""
        return tuple(cfg for v in self.variants for cfg in v.configs)

    def record(self) -> dict[str, Any]:
        """JSON-ready description (for downloads)."""
        return {
            "title": self.title,
            "question": self.question,
            "variants": {v.label: [cfg.to_dict() for cfg in v.configs] for v in self.variants},
        }


def _grouped(runs: list[tuple[str, RunConfig]]) -> tuple[Variant, ...]:
    by_label: dict[str, list[RunConfig]] = {}
    for label, cfg in runs:
        by_label.setdefault(label, []).append(cfg)
    # Lessons label arms by method key ("drop_block"); people read "DropBlock".
    return tuple(
        Variant(c.METHOD_LABELS.get(label, label), tuple(cfgs)) for label, cfgs in by_label.items()
    )


def _lesson_plan(panel: Panel, key: str, seeds: int) -> Plan:
    size = panel(SIZE)
    method = panel(SWEEP) if key == "keep_sweep" else None
    lesson = LESSONS[key]
    title = lesson.title
    if method is not None:
        title += f": {c.METHOD_LABELS[method]}"
    return Plan(
        title,
        lesson.question,
        lesson.how_to_read,
        _grouped(lesson_runs(key, seeds, size=size, method=method)),
    )


def _custom_plan(panel: Panel, seeds: int) -> Plan | None:
    methods = panel(METHODS_CONTROL)
    if panel.shows("strength"):
        panel.area.subheader("Strength")
    keep = panel(c.KEEP)
    scheduled = panel(TRAIN_SCHEDULE)
    start = panel(c.START_KEEP, disabled=not scheduled)
    if panel.shows("dropblock"):
        panel.area.subheader("DropBlock")
    block = panel(c.BLOCK)
    gamma = panel(c.GAMMA)
    seeding = panel(c.SEEDING)
    if panel.shows("sites"):
        panel.area.subheader("Where")
    stages = panel(c.STAGES_CONTROL)
    where = panel(c.WHERE_CONTROL)
    classifier = panel(CLASSIFIER)
    if panel.shows("training"):
        panel.area.subheader("Training")
    train_size = int(panel(TRAIN_SIZE))
    epochs = int(panel(EPOCHS))
    if not methods:
        panel.notices.error("Pick at least one method under **Methods to compare**.")
        return None
    if not stages:
        panel.notices.error("Choose at least one stage under **Where** in the sidebar.")
        return None
    variants = []
    try:
        for method in methods:
            # DropPath only drops residual branches (the Playground does the same).
            path: Any = "branch" if method == "drop_path" and where == "skip" else where
            configs = tuple(
                RunConfig(
                    method=method,
                    p=c.drop_probability(keep),
                    block_size=int(block),
                    gamma=gamma,
                    seeding=seeding,
                    stages=tuple(stages),
                    where=path,
                    classifier_p=round(classifier, 12),
                    schedule=scheduled,
                    schedule_start_keep=start,
                    train_size=train_size,
                    epochs=epochs,
                    seed=seed,
                )
                for seed in range(seeds)
            )
            variants.append(Variant(c.METHOD_LABELS[method], configs))
    except ValueError as err:
        panel.notices.error(f"These settings do not make a training run: {err}")
        return None
    return Plan(
        "Your settings",
        "What does each chosen method do to learning?",
        "Look at the gap and the validation accuracy together: a regularizer that "
        "shrinks the gap but also lowers validation accuracy is too strong.",
        tuple(variants),
    )


def train_plan(panel: Panel) -> Plan | None:
    """Draw the Train page's controls; the plan, or None (after a message) if unusable."""
    if panel.shows("method"):
        panel.area.subheader("Experiment")
    lesson = panel(LESSON)
    seeds = int(panel(SEEDS))
    if lesson != CUSTOM:
        return _lesson_plan(panel, lesson, seeds)
    return _custom_plan(panel, seeds)
