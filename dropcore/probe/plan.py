"""Which sites of a ResNet a :class:`ProbeSettings` selects, the rate at each, and where the
probe's forward splits.

The forward is a sequence of *units*: unit 0 is the stem, unit ``d`` the residual block of
depth ``d`` (1-based), and ``units = L + 1`` for ``L`` blocks. :class:`ForwardPlan` names the
three spans a probe runs: the shared prefix (once, batch 1), up to the Grad-CAM layer (no
grad), and the rest (with grad, towards the CAM).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..schedule import depth_rates
from .resnet import Block, branch_convs, resnet_blocks
from .settings import ProbeSettings

__all__ = ["ForwardPlan", "Site", "plan_forward", "plan_sites", "site_names"]


@dataclass(frozen=True)
class Site:
    """One place where the regularizer acts.

    Attributes:
        name: ``"layer3.2.branch"``, ``"layer3.2.skip"``, ``"layer3.2.conv2"``,
            ``"layer3.0.downsample"``.
        block: the block's name, ``"layer3.2"``.
        path: ``"branch"`` / ``"skip"`` (activations) or a conv of the block (DropConnect).
        p: drop probability here (after depth scaling).
    """

    name: str
    block: str
    path: str
    p: float


def _paths(settings: ProbeSettings, block: Block) -> tuple[str, ...]:
    where = settings.where
    if settings.method == "drop_path":
        return ("branch",)
    if settings.method == "drop_connect":
        branch = branch_convs(block.module) if where in ("branch", "both") else ()
        has_down = block.module.downsample is not None
        return branch + (("downsample",) if has_down and where in ("skip", "both") else ())
    return {"branch": ("branch",), "skip": ("skip",), "both": ("branch", "skip")}[where]


def plan_sites(blocks: tuple[Block, ...], settings: ProbeSettings) -> tuple[Site, ...]:
    """Sites in forward order (within a block: branch, then shortcut).

    Raises:
        ValueError: a chosen block index does not exist in a chosen stage, or the
            settings select no site at all (DropConnect on identity shortcuts only).
    """
    if settings.method == "none":
        return ()
    per_stage = {s: sum(b.stage == s for b in blocks) for s in settings.stages}
    for stage, count in per_stage.items():
        for index in settings.blocks or ():
            if index >= count:
                raise ValueError(f"blocks: {stage} has {count} blocks, there is no block {index}")
    rates = depth_rates(settings.p, len(blocks)) if settings.depth_scaling else None
    sites: list[Site] = []
    for block in blocks:
        if block.stage not in per_stage:
            continue
        if settings.blocks is not None and block.index not in settings.blocks:
            continue
        p = rates[block.depth - 1] if rates is not None else settings.p
        for path in _paths(settings, block):
            sites.append(Site(f"{block.name}.{path}", block.name, path, p))
    if not sites:
        raise ValueError(
            f"settings select no site: method={settings.method!r}, where={settings.where!r} "
            f"on {settings.stages} blocks {settings.blocks} (identity shortcuts have no weights)"
        )
    return tuple(sites)


def site_names(model: nn.Module, settings: ProbeSettings) -> tuple[str, ...]:
    """Names of the sites a probe with ``settings`` records on ``model``, in forward order."""
    return tuple(site.name for site in plan_sites(resnet_blocks(model), settings))


@dataclass(frozen=True)
class ForwardPlan:
    """The sites of one probe and the unit spans its forward runs (see the module doc).

    Attributes:
        sites: the sites, in forward order.
        by_block: block name -> path -> site, for the blocks that have sites.
        shared_stop: units ``[0, shared_stop)`` come before every site and the CAM layer,
            so they run once, on the single input row.
        cam_stop: the CAM layer is the output of unit ``cam_stop - 1``; units
            ``[shared_stop, cam_stop)`` run without grad, ``[cam_stop, units)`` with it.
        units: number of units (stem + blocks).
    """

    sites: tuple[Site, ...]
    shared_stop: int
    cam_stop: int
    units: int
    by_block: dict[str, dict[str, Site]] = field(compare=False, hash=False)


def plan_forward(blocks: tuple[Block, ...], settings: ProbeSettings) -> ForwardPlan:
    """Plan the probe's forward for ``blocks`` (see :func:`plan_sites` for the errors)."""
    sites = plan_sites(blocks, settings)
    by_block: dict[str, dict[str, Site]] = {}
    for site in sites:
        by_block.setdefault(site.block, {})[site.path] = site
    units = len(blocks) + 1
    # Block of depth d is unit d: the CAM layer is the last block of its stage.
    cam_stop = max(b.depth for b in blocks if b.stage == settings.cam_layer) + 1
    depth = {b.name: b.depth for b in blocks}
    first_site = min((depth[s.block] for s in sites), default=units)
    return ForwardPlan(sites, min(first_site, cam_stop), cam_stop, units, by_block)
