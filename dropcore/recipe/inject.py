"""``regularize``: put a :class:`Recipe` into a torchvision ResNet for training, and undo it."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ..probe.plan import Site as PlannedSite
from ..probe.plan import plan_sites
from ..probe.resnet import resnet_blocks
from .blocks import RegularizedBlock, check_block
from .rng import MaskRng
from .sites import ActivationSite, ClassifierDropout, DropConnectSite, Site
from .spec import Recipe

__all__ = ["Regularized", "regularize"]


class Regularized:
    """Handle of a regularized model: drives the rate, reads measurements, undoes.

    Attributes:
        model: the model (modified in place: blocks and ``fc`` are wrapped).
        recipe: what was injected.
        sites: every site in forward order (the classifier's last).
        step: the step last passed to :meth:`set_step`.
    """

    def __init__(
        self,
        model: nn.Module,
        recipe: Recipe,
        sites: tuple[Site, ...],
        originals: dict[str, nn.Module],
        rng: MaskRng,
    ) -> None:
        self.model = model
        self.recipe = recipe
        self.sites = sites
        self.rng = rng
        self.step: float = 0.0
        self._originals = originals
        self.set_step(0)

    def set_step(self, step: float) -> float:
        """Set every site's rate for training ``step`` (the schedule is a pure function of
        it; nothing advances on its own). Returns the recipe's rate at ``step``."""
        rate = self.recipe.rate(step)
        self.step = step
        for site in self.sites:
            if not isinstance(site, ClassifierDropout):
                site.p = site.factor * rate
        return rate

    def dropped(self) -> dict[str, float]:
        """Site name -> fraction actually dropped in the last training forward (sites that
        have not run yet are absent). Reads the device: call it when you log, not per step
        on a GPU."""
        return {s.name: float(s.dropped) for s in self.sites if s.dropped is not None}

    def expected(self) -> dict[str, float]:
        """Site name -> the rate each site is set to now (DropBlock's target fraction)."""
        return {s.name: s.p for s in self.sites}

    def remove(self) -> nn.Module:
        """Put the original blocks and classifier back; parameters are untouched (they were
        shared all along). Returns the plain model."""
        for path, module in self._originals.items():
            _set_submodule(self.model, path, module)
        self._originals = {}
        self.sites = ()
        return self.model


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


def _factors(recipe: Recipe, model: nn.Module) -> tuple[PlannedSite, ...]:
    # Plan with p = 1 so that each planned rate is the site's share of the recipe's rate
    # (depth scaling), whatever the schedule says at a given step.
    return plan_sites(resnet_blocks(model), replace(recipe, p=1.0, schedule=None))


def regularize(model: nn.Module, recipe: Recipe) -> Regularized:
    """Inject ``recipe`` into a torchvision ResNet (BasicBlock or Bottleneck) for training.

    Each selected block is replaced by a :class:`RegularizedBlock` that reuses its
    submodules (parameter names, values and BatchNorm untouched); DropConnect replaces the
    chosen convs by sites sharing their parameters; ``classifier_p > 0`` puts dropout on
    the input of ``fc``. All sites are the identity in ``model.eval()`` (vanilla dropout
    scales by keep_prob there, by definition).

    Args:
        model: a torchvision ``ResNet`` or a model shaped like one.
        recipe: what to inject where.

    Returns:
        A :class:`Regularized` handle: ``set_step(step)`` each training step,
        ``dropped()`` to log what was actually dropped, ``remove()`` to undo.

    Raises:
        ValueError: ``model`` is not a torchvision-style ResNet or is already regularized,
            or the recipe selects a site that does not exist.
    """
    if not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a dropcore.Recipe, got {recipe!r}")
    if any(isinstance(m, (RegularizedBlock, Site)) for m in model.modules()):
        raise ValueError("model is already regularized; call remove() on its handle first")
    planned = _factors(recipe, model) if recipe.method != "none" else ()
    rng = MaskRng(recipe.seed)
    by_block: dict[str, list[PlannedSite]] = {}
    for ps in planned:
        by_block.setdefault(ps.block, []).append(ps)
    originals: dict[str, nn.Module] = {}
    sites: list[Site] = []
    for block_name, group in by_block.items():
        block = model.get_submodule(block_name)
        check_block(block, block_name)
        made = {ps.path: _make_site(ps, block, recipe, rng) for ps in group}
        convs: dict[str, Site] = {p: s for p, s in made.items() if isinstance(s, DropConnectSite)}
        wrapper = RegularizedBlock(block, made.get("branch"), made.get("skip"), convs)
        originals[block_name] = block
        _set_submodule(model, block_name, wrapper)
        sites.extend(made.values())
    if recipe.classifier_p > 0:
        fc = model.fc
        if not isinstance(fc, nn.Linear):
            raise ValueError(f"classifier dropout needs model.fc to be nn.Linear, got {fc!r}")
        originals["fc"] = fc
        head = ClassifierDropout("fc", rng, fc, recipe.classifier_p, recipe.sampler)
        model.fc = head
        sites.append(head)
    return Regularized(model, recipe, tuple(sites), originals, rng)


def _make_site(ps: PlannedSite, block: nn.Module, recipe: Recipe, rng: MaskRng) -> Site:
    factor = ps.p  # planned with p = 1: the depth-scaling share
    if recipe.method == "drop_connect":
        path = "downsample.0" if ps.path == "downsample" else ps.path
        conv = block.get_submodule(path)
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"{ps.name}: DropConnect needs an nn.Conv2d, got {conv!r}")
        return DropConnectSite(ps.name, factor, rng, conv, recipe.sampler)
    return ActivationSite(ps.name, factor, rng, recipe)
