"""The sidebar that picks a regularizer and where to inject it, as ``ProbeSettings``.

Every control is always drawn (those that do not apply to the chosen method are disabled),
so switching methods back and forth never loses a value and every value stays in the link.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropcore import LinearSchedule
from dropcore.probe import ProbeSettings

from . import catalog as c
from .controls import Panel

__all__ = ["Regularizer", "regularizer_controls"]


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
            parts += [f"block {s.block_size}", f"γ {s.gamma}", f"{s.seeding} seeds",
                      "per-channel" if s.per_channel else "shared mask"]
        if s.method == "dropout":
            parts.append("inverted" if s.inverted else "vanilla")
        parts += [" + ".join(s.stages), s.where]
        if s.depth_scaling:
            parts.append("depth-scaled")
        return " · ".join(parts)


def _strength(panel: Panel, method: str) -> tuple[float, LinearSchedule | None, int | None]:
    off = method == "none"
    # The keep_prob slider comes first on screen but depends on the schedule toggle.
    keep_slot = panel.area.container()
    box = panel.area.container(border=panel.shows("strength"))
    scheduled = panel(c.SCHEDULE, area=box, disabled=off)
    idle = off or not scheduled
    start = panel(c.START_KEEP, area=box, disabled=idle)
    end = panel(c.END_KEEP, area=box, disabled=idle)
    total = panel(c.TOTAL_STEPS, area=box, disabled=idle)
    step = panel(c.STEP, area=box, disabled=idle, hi=total)
    schedule = LinearSchedule(start_keep=start, end_keep=end, total_steps=total)
    keep = panel(c.KEEP, area=keep_slot, disabled=off or scheduled)
    if not scheduled:
        return keep, None, None
    scheduled_keep = schedule.keep_prob(step)
    box.metric(
        "keep_prob at this step", f"{scheduled_keep:.4f}",
        delta=f"{scheduled_keep - start:+.4f} since step 0", delta_color="off",
        help="LinearSchedule(start_keep, end_keep, total_steps).keep_prob(step)",
    )
    return scheduled_keep, schedule, step


def regularizer_controls(panel: Panel) -> Regularizer | None:
    """Draw the regularizer controls; None (with a message) if they do not make a setting."""
    area = panel.area
    if panel.shows("method", "strength"):
        area.subheader("Regularizer")
    method = panel(c.METHOD)
    off = method == "none"
    keep, schedule, step = _strength(panel, method)
    inverted = panel(c.INVERTED, disabled=method != "dropout")

    if panel.shows("dropblock"):
        area.subheader("DropBlock")
    not_block = method != "drop_block"
    block = panel(c.BLOCK, disabled=not_block)
    gamma = panel(c.GAMMA, disabled=not_block)
    seeding = panel(c.SEEDING, disabled=not_block)
    per_channel = panel(c.PER_CHANNEL, disabled=not_block)

    if panel.shows("sites"):
        area.subheader("Where")
    stages = panel(c.STAGES_CONTROL, disabled=off)
    where = panel(c.WHERE_CONTROL, disabled=off)
    depth = panel(c.DEPTH, disabled=off)
    cam_layer = panel(c.CAM_LAYER)

    if panel.shows("seed"):
        area.subheader("Randomness")
    seed = panel(c.SEED)

    if method == "drop_path" and where == "skip":
        area.caption("DropPath only drops residual branches: using the branch.")
        where = "branch"
    if not stages:
        if off:
            stages = c.STAGES_CONTROL.default
        else:
            panel.notices.error("Choose at least one stage under **Where** in the sidebar.")
            return None
    try:
        settings = ProbeSettings(
            method=method, p=c.drop_probability(keep), block_size=block, gamma=gamma,
            seeding=seeding, per_channel=per_channel, inverted=inverted, stages=stages,
            where=where, depth_scaling=depth, cam_layer=cam_layer,
        )
    except ValueError as err:
        panel.notices.error(f"These settings do not work together: {err}")
        return None
    return Regularizer(settings=settings, seed=seed, keep_prob=keep, schedule=schedule,
                       step=step)
