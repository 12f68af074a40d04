"""The sidebar that picks a regularizer and where to inject it, as ``ProbeSettings``.

Every control is always drawn (those that do not apply to the chosen method are disabled),
so switching methods back and forth never loses a value and every value stays in the link.
Drawing the controls (:func:`draw_choices`), reading them back without drawing
(:func:`read_choices`) and turning their values into settings (:func:`regularizer_from`)
are separate, so a page can rerun its results without redrawing the sidebar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from streamlit.delta_generator import DeltaGenerator

from dropcore import LinearSchedule
from dropcore.gamma import GammaMode, Seeding
from dropcore.probe import ProbeSettings
from dropcore.probe.settings import Method, Stage, Where

from . import catalog as c
from .controls import Callback, Panel

__all__ = [
    "Choices",
    "Regularizer",
    "draw_choices",
    "read_choices",
    "regularizer_controls",
    "regularizer_from",
]


@dataclass(frozen=True)
class Regularizer:
    """What the sidebar chose.

    Attributes:
        settings: validated probe settings.
        seed: seed of the random draws.
        keep_prob: the keep_prob in effect (read off the schedule when one is used).
        schedule: the schedule, or None for a fixed keep_prob.
        step: the training step read off the schedule (None without one).
    """

    settings: ProbeSettings
    seed: int
    keep_prob: float
    schedule: LinearSchedule | None
    step: int | None

    def summary(self) -> str:
        """One line naming the setting, e.g. ``DropBlock · keep_prob 0.90 · block 7 ...``."""
        s = self.settings
        if s.method == "none":
            return "No regularizer"
        parts = [c.METHOD_LABELS[s.method], f"keep_prob {self.keep_prob:.4g}"]
        if self.schedule is not None:
            parts[-1] += f" (step {self.step:,} of {self.schedule.total_steps:,})"
        if s.method == "drop_block":
            parts += [
                f"block {s.block_size}",
                f"γ {s.gamma}",
                f"{s.seeding} seeds",
                "per-channel" if s.per_channel else "shared mask",
            ]
        if s.method == "dropout":
            parts.append("inverted" if s.inverted else "vanilla")
        parts += [" + ".join(s.stages), s.where]
        if s.depth_scaling:
            parts.append("depth-scaled")
        return " · ".join(parts)


@dataclass(frozen=True)
class Choices:
    """The sidebar's values as drawn, before they are checked and combined."""

    method: Method
    keep: float
    scheduled: bool
    start: float
    end: float
    total: int
    step: int
    inverted: bool
    block: int
    gamma: GammaMode
    seeding: Seeding
    per_channel: bool
    stages: tuple[Stage, ...]
    where: Where
    depth: bool
    cam_layer: Stage
    seed: int

    @property
    def schedule(self) -> LinearSchedule | None:
        """The schedule the values describe, or None for a fixed keep_prob."""
        if not self.scheduled:
            return None
        return LinearSchedule(start_keep=self.start, end_keep=self.end, total_steps=self.total)

    @property
    def keep_in_effect(self) -> float:
        """keep_prob itself, or the schedule's keep_prob at ``step``."""
        schedule = self.schedule
        return self.keep if schedule is None else schedule.keep_prob(self.step)

    @property
    def branch_forced(self) -> bool:
        """DropPath asked for the skip path, which it has not: it drops the branch."""
        return self.method == "drop_path" and self.where == "skip"


def _strength(
    panel: Panel, off: bool, light: Callback | None
) -> tuple[dict[str, Any], DeltaGenerator]:
    # The keep_prob slider comes first on screen but depends on the schedule toggle.
    keep_slot = panel.area.container()
    box = panel.area.container(border=panel.shows("strength"))
    scheduled = panel(c.SCHEDULE, area=box, disabled=off)
    idle = off or not scheduled
    # The schedule's values change the keep_prob shown below them: no light rerun.
    values: dict[str, Any] = {"scheduled": scheduled}
    for name, control in (("start", c.START_KEEP), ("end", c.END_KEEP), ("total", c.TOTAL_STEPS)):
        values[name] = panel(control, area=box, disabled=idle)
    total = values["total"]
    values["step"] = panel(c.STEP, area=box, disabled=idle, hi=total)
    values["keep"] = panel(c.KEEP, area=keep_slot, disabled=off or scheduled, on_change=light)
    return values, box


def _schedule_note(box: DeltaGenerator, choices: Choices) -> None:
    """The keep_prob the schedule gives at the chosen step, under the schedule's controls."""
    if not choices.scheduled:
        return
    now = choices.keep_in_effect
    box.metric(
        "keep_prob at this step",
        f"{now:.4f}",
        delta=f"{now - choices.start:+.4f} since step 0",
        delta_color="off",
        help="LinearSchedule(start_keep, end_keep, total_steps).keep_prob(step)",
    )


def draw_choices(panel: Panel, light: Callback | None = None) -> Choices:
    """Draw the regularizer controls and return their values.

    ``light`` is the ``on_change`` of the controls whose change alters nothing else in
    the sidebar (keep_prob, block size, seed, ...): a page passes one that reruns only
    its results. The others (method, schedule, path) rerun as usual.
    """
    area = panel.area
    if panel.shows("method", "strength"):
        area.subheader("Regularizer")
    method = panel(c.METHOD)
    strength, schedule_box = _strength(panel, method == "none", light)
    inverted = panel(c.INVERTED, disabled=method != "dropout", on_change=light)

    if panel.shows("dropblock"):
        area.subheader("DropBlock")
    not_block = method != "drop_block"
    block = panel(c.BLOCK, disabled=not_block, on_change=light)
    gamma = panel(c.GAMMA, disabled=not_block, on_change=light)
    seeding = panel(c.SEEDING, disabled=not_block, on_change=light)
    per_channel = panel(c.PER_CHANNEL, disabled=not_block, on_change=light)

    if panel.shows("sites"):
        area.subheader("Where")
    off = method == "none"
    stages = panel(c.STAGES_CONTROL, disabled=off, on_change=light)
    where = panel(c.WHERE_CONTROL, disabled=off)  # may add the DropPath note below
    depth = panel(c.DEPTH, disabled=off, on_change=light)
    cam_layer = panel(c.CAM_LAYER, on_change=light)

    if panel.shows("seed"):
        area.subheader("Randomness")
    choices = Choices(
        method=method,
        **strength,
        inverted=inverted,
        block=block,
        gamma=gamma,
        seeding=seeding,
        per_channel=per_channel,
        stages=stages,
        where=where,
        depth=depth,
        cam_layer=cam_layer,
        seed=panel(c.SEED, on_change=light),
    )
    _schedule_note(schedule_box, choices)
    if choices.branch_forced:
        area.caption("DropPath only drops residual branches: using the branch.")
    return choices


def read_choices(panel: Panel) -> Choices:
    """The values the controls hold now, read without drawing them."""
    get = panel.value
    total = get(c.TOTAL_STEPS)
    return Choices(
        method=get(c.METHOD),
        keep=get(c.KEEP),
        scheduled=get(c.SCHEDULE),
        start=get(c.START_KEEP),
        end=get(c.END_KEEP),
        total=total,
        step=get(c.STEP, hi=total),
        inverted=get(c.INVERTED),
        block=get(c.BLOCK),
        gamma=get(c.GAMMA),
        seeding=get(c.SEEDING),
        per_channel=get(c.PER_CHANNEL),
        stages=get(c.STAGES_CONTROL),
        where=get(c.WHERE_CONTROL),
        depth=get(c.DEPTH),
        cam_layer=get(c.CAM_LAYER),
        seed=get(c.SEED),
    )


def regularizer_from(choices: Choices) -> Regularizer | str:
    """The regularizer ``choices`` make, or why they make none (a message for the page)."""
    stages = choices.stages
    if not stages:
        if choices.method != "none":
            return "Choose at least one stage under **Where** in the sidebar."
        stages = cast("tuple[Stage, ...]", c.STAGES_CONTROL.default)  # a method-less run
    keep = choices.keep_in_effect
    try:
        settings = ProbeSettings(
            method=choices.method,
            p=c.drop_probability(keep),
            block_size=choices.block,
            gamma=choices.gamma,
            seeding=choices.seeding,
            per_channel=choices.per_channel,
            inverted=choices.inverted,
            stages=stages,
            where="branch" if choices.branch_forced else choices.where,
            depth_scaling=choices.depth,
            cam_layer=choices.cam_layer,
        )
    except ValueError as err:
        return f"These settings do not work together: {err}"
    return Regularizer(
        settings=settings,
        seed=choices.seed,
        keep_prob=keep,
        schedule=choices.schedule,
        step=choices.step if choices.scheduled else None,
    )


def regularizer_controls(panel: Panel) -> Regularizer | None:
    """Draw the regularizer controls; None (with a message) if they do not make a setting."""
    made = regularizer_from(draw_choices(panel))
    if isinstance(made, str):
        panel.notices.error(made)
        return None
    return made
