"""Running residual blocks with the regularizer applied to the draw rows of a batch.

A chunk's batch is ``[baseline?, draw_k, ..., draw_m]``. The baseline row (when present,
always row 0) is never touched. Until the first site acts, every row is the same, so the
activations stay a single row and are only expanded where a regularizer first acts (the
addition of branch and shortcut broadcasts a single row): the first chosen block's convs
run once, not once per draw. Draw ``i`` gets its masks from its own generator, by a
per-row call of the dropcore function exactly as for a single image, so its masks do not
depend on how many draws run or how they are chunked. DropConnect needs different weights
per draw: each draw row is convolved with its own dropped weights in a loop (a grouped conv
measured no faster on CPU and needs layout copies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..dropblock import drop_block
from ..dropconnect import drop_connect
from ..dropout import dropout
from ..droppath import drop_path
from ..gamma import expected_drop_fraction
from ..spatial import spatial_dropout
from .plan import Site
from .resnet import Block, ConvFn, branch, conv, skip
from .settings import ProbeSettings

__all__ = ["Injector", "SiteTally", "activation_fn", "run_block"]

MaskedFn = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def activation_fn(settings: ProbeSettings, p: float) -> MaskedFn:
    """``fn(x, generator) -> (y, keep_mask)``: the activation regularizer of ``settings`` at
    rate ``p``. Dropout's masks come from ``bernoulli_`` (torch's stream), so that a shared
    link shows the same masks; the training recipe uses ``dropcore.recipe.measure``."""
    method = settings.method
    if method == "dropout":
        return lambda x, g: dropout(x, p, inverted=settings.inverted, generator=g, return_mask=True)
    if method == "spatial_dropout":
        return lambda x, g: spatial_dropout(x, p, generator=g, return_mask=True)
    if method == "drop_block":
        return lambda x, g: drop_block(
            x,
            p,
            settings.block_size,
            gamma=settings.gamma,
            seeding=settings.seeding,
            per_channel=settings.per_channel,
            generator=g,
            return_mask=True,
        )
    if method == "drop_path":
        return lambda x, g: drop_path(x, p, generator=g, return_mask=True)
    raise ValueError(f"method {method!r} does not act on activations")


def _to_cpu(t: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    # copy=True: on the CPU, .to() would otherwise alias the live activation.
    return t.detach().to(
        "cpu", dtype=dtype or t.dtype, memory_format=torch.contiguous_format, copy=True
    )


@dataclass
class SiteTally:
    """What a probe accumulates at one site over all chunks (internal, mutable)."""

    site: Site
    kept: torch.Tensor | int = 0
    total: int = 0
    expected: float | None = None
    keep_mask: torch.Tensor | None = None
    before: torch.Tensor | None = None
    after: torch.Tensor | None = None

    def count(self, mask: torch.Tensor) -> None:
        """Add one draw's 0/1 mask (integer count: exact at any size)."""
        self.kept = self.kept + torch.count_nonzero(mask)
        self.total += mask.numel()


@dataclass
class Injector:
    """The regularizer for one chunk.

    Attributes:
        settings: the probe's settings.
        sites: block name -> path -> site.
        tallies: site name -> tally, shared by every chunk of a probe.
        generators: one per draw row of this chunk.
        record: names of the sites whose first draw is recorded (empty unless this chunk
            holds draw 0).
    """

    settings: ProbeSettings
    sites: dict[str, dict[str, Site]]
    tallies: dict[str, SiteTally]
    generators: list[torch.Generator]
    record: frozenset[str] = field(default_factory=frozenset)

    @property
    def rows(self) -> int:
        """Rows of the chunk's batch: one per draw."""
        return len(self.generators)

    def activation(self, site: Site, t: torch.Tensor) -> torch.Tensor:
        """t (Tensor[rows or 1, C, H, W]) -> Tensor[rows, C, H, W], each row with its
        draw of the regularizer."""
        t = t.expand(self.rows, *t.shape[1:])
        tally = self.tallies[site.name]
        if tally.expected is None:
            tally.expected = self._expected(site.p, t)
        fn = activation_fn(self.settings, site.p)
        rows = []
        for j, gen in enumerate(self.generators):
            y, mask = fn(t[j : j + 1], gen)
            tally.count(mask)
            if j == 0 and site.name in self.record:
                tally.keep_mask = _to_cpu(mask[0], torch.bool)
                tally.before = _to_cpu(t[0])
                tally.after = _to_cpu(y[0])
            rows.append(y)
        return torch.cat(rows)

    def conv_fn(self, block_sites: dict[str, Site]) -> ConvFn:
        """A conv evaluator that applies DropConnect to the convs named in ``block_sites``."""

        def evaluate(path: str, module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
            site = block_sites.get(path)
            if site is None:
                return conv(module, x)
            tally = self.tallies[site.name]
            tally.expected = site.p
            # A single row stands for all rows; slicing it from an expanded view would
            # send the conv down PyTorch's slow non-contiguous path.
            row = (lambda i: x) if x.shape[0] == 1 else (lambda i: x[i : i + 1])
            rows = []
            for j, gen in enumerate(self.generators):
                weight, mask = drop_connect(module.weight, site.p, generator=gen, return_mask=True)
                tally.count(mask)
                y = conv(module, row(j), weight)
                if j == 0 and site.name in self.record:
                    tally.keep_mask = _to_cpu(mask, torch.bool)
                    tally.before = _to_cpu(conv(module, row(0))[0])
                    tally.after = _to_cpu(y[0])
                rows.append(y)
            return torch.cat(rows)

        return evaluate

    def _expected(self, p: float, t: torch.Tensor) -> float:
        if self.settings.method != "drop_block":
            return p
        s = self.settings
        return expected_drop_fraction(
            p, s.block_size, t.shape[-2], t.shape[-1], gamma=s.gamma, seeding=s.seeding
        )


def run_block(block: Block, h: torch.Tensor, injector: Injector | None) -> torch.Tensor:
    """``relu(R_branch(branch(h)) + R_skip(skip(h)))`` for one residual block.

    Args:
        block: the block.
        h (Tensor[N, C, H, W]): its input (N = 1 while all rows are still equal).
        injector: the chunk's regularizer, or None for a plain block.
    """
    sites = injector.sites.get(block.name, {}) if injector is not None else {}
    if injector is None or not sites:
        b, s = branch(block.module, h), skip(block.module, h)
    elif injector.settings.method == "drop_connect":
        conv_fn = injector.conv_fn(sites)
        b, s = branch(block.module, h, conv_fn), skip(block.module, h, conv_fn)
    else:
        b, s = branch(block.module, h), skip(block.module, h)
        if "branch" in sites:
            b = injector.activation(sites["branch"], b)
        if "skip" in sites:
            s = injector.activation(sites["skip"], s)
    return F.relu(b + s, inplace=True)
