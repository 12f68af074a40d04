"""DropBlock (Ghiasi, Lin, Le, NeurIPS 2018) with exact drop rates and fast masks.

Two ways to draw the same random mask (identical distribution, different cost), see
``_block_masks``:

* ``"sparse"``: seeds are drawn by geometric gaps (O(#seeds), see ``_sampling``) and grown
  into blocks by a precomputed block table (small maps) or by painting offsets (large maps,
  channels-last). Full-size masks are rendered straight into the output buffer and
  re-rendered in backward, so no full-size temporary is allocated or kept.
* ``"dense"``: a Bernoulli field dilated one axis at a time (a separable max-pool on
  GPUs, shifted ORs on the CPU). Better on GPUs (one sync-free kernel chain) and when
  blocks cover most of the map anyway.

The functions are registered with ``torch.fx.wrap`` (as torchvision does for its
DropBlock), so ``torch.fx.symbolic_trace`` records each call as one node instead of
tracing into the mask construction, which depends on values.
"""

from __future__ import annotations

from typing import Literal, Protocol, cast, overload

import torch
from torch import nn

from ._block_apply import ALGORITHMS, Algorithm, block_keep_mask, check_input, checked_geometry
from ._block_apply import drop_block_nd as _drop_block_nd
from ._validate import check_choice, check_flag, check_index, check_positive_int, check_probability
from .gamma import GAMMA_MODES, SEEDINGS, GammaMode, Seeding

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DropBlock2d",
    "DropBlockBase",
    "DropBlockFn",
    "drop_block",
    "drop_block_mask",
    "make_drop_block",
]


def drop_block_mask(
    shape: tuple[int, ...],
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    per_channel: bool = True,
    batchwise: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    algorithm: Algorithm = "auto",
) -> torch.Tensor:
    """Boolean DropBlock keep mask (True = kept) for activations of ``shape``.

    Args:
        shape: ``(N, C, H, W)`` (or ``(N, C, D, H, W)``) of the activations.
        p, block_size, gamma, seeding, per_channel, batchwise: see :func:`drop_block`.
        device: where the mask is made.
        generator: optional source of randomness on ``device``.
        algorithm: ``"sparse"``, ``"dense"``, ``"auto"`` or ``"counter"``; same
            distribution, different cost and different draws for the same generator state.
            ``"counter"`` draws 2-D masks on the CPU in one single-threaded numba call from
            a counter-based stream seeded by ``generator`` (see :func:`dropcore.dropout`'s
            ``sampler``): fewer ops, so cheaper for the small maps and batches of a small
            network's training step, but slower than ``"auto"`` on large activations where
            torch's ops use several threads (bench/bench_dropblock.py prints both).
            Elsewhere (CUDA, 3-D maps, under ``torch.compile``) it is ``"auto"``.

    Returns:
        Tensor[N or 1, C or 1, (D,) H, W] of bool.
    """
    shape = tuple(shape)
    if len(shape) not in (4, 5):
        raise ValueError(f"shape must be (N, C, H, W) or (N, C, D, H, W), got {shape!r}")
    for i, size in enumerate(shape):
        # Empty batches are fine; an empty map has no blocks to draw.
        check_index(size, f"shape[{i}]", 0 if i < 2 else 1)
    device = torch.device(device)
    geo, algo = checked_geometry(
        shape,
        p,
        block_size,
        gamma,
        seeding,
        per_channel,
        batchwise,
        algorithm,
        device,
        generator,
        "drop_block_mask",
    )
    return block_keep_mask(geo, algo, device, generator)


class DropBlockFn(Protocol):
    """Call signature of :func:`drop_block` and :func:`dropcore.drop_block3d`:
    ``return_mask`` decides whether a tensor or a ``(y, keep_mask)`` pair comes back."""

    @overload
    def __call__(
        self,
        x: torch.Tensor,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = ...,
        seeding: Seeding = ...,
        per_channel: bool = ...,
        batchwise: bool = ...,
        training: bool = ...,
        generator: torch.Generator | None = ...,
        return_mask: Literal[False] = ...,
        inplace: bool = ...,
        algorithm: Algorithm = ...,
    ) -> torch.Tensor: ...
    @overload
    def __call__(
        self,
        x: torch.Tensor,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = ...,
        seeding: Seeding = ...,
        per_channel: bool = ...,
        batchwise: bool = ...,
        training: bool = ...,
        generator: torch.Generator | None = ...,
        return_mask: Literal[True],
        inplace: bool = ...,
        algorithm: Algorithm = ...,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...
    @overload
    def __call__(
        self,
        x: torch.Tensor,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = ...,
        seeding: Seeding = ...,
        per_channel: bool = ...,
        batchwise: bool = ...,
        training: bool = ...,
        generator: torch.Generator | None = ...,
        return_mask: bool,
        inplace: bool = ...,
        algorithm: Algorithm = ...,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def make_drop_block(name: str, spatial_dims: int, module: str, doc: str) -> DropBlockFn:
    """The public DropBlock function for maps with ``spatial_dims`` spatial axes.

    One body serves the 2-D and 3-D forms; each is bound to a module-level name (which
    ``torch.fx.wrap`` needs) with its own name and docstring.
    """

    def drop_block_fn(
        x: torch.Tensor,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = "exact",
        seeding: Seeding = "uniform",
        per_channel: bool = True,
        batchwise: bool = False,
        training: bool = True,
        generator: torch.Generator | None = None,
        return_mask: bool = False,
        inplace: bool = False,
        algorithm: Algorithm = "auto",
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = check_input(x, spatial_dims + 2, name)
        geo, algo = checked_geometry(
            tuple(x.shape),
            p,
            block_size,
            gamma,
            seeding,
            per_channel,
            batchwise,
            algorithm,
            x.device,
            generator,
            name,
        )
        return _drop_block_nd(
            x,
            geo,
            algo,
            training=training,
            generator=generator,
            return_mask=return_mask,
            inplace=check_flag(inplace, "inplace"),
        )

    drop_block_fn.__name__ = drop_block_fn.__qualname__ = name
    drop_block_fn.__module__ = module
    drop_block_fn.__doc__ = doc
    return cast(DropBlockFn, drop_block_fn)


drop_block = make_drop_block(
    "drop_block",
    2,
    __name__,
    """DropBlock: zero contiguous ``block_size x block_size`` regions of a feature map.

    Kept values are multiplied by ``count(mask) / sum(mask)`` (the paper's normalisation),
    so the layer keeps its mean; if everything is dropped the output is zeros.

    Args:
        x (Tensor[N, C, H, W]): activations (any float dtype, device or memory format).
        p: drop probability, ``1 - keep_prob``.
        block_size: block edge (>= 1). A seed at pixel ``c`` drops ``c - (bs - 1) // 2`` to
            ``c + bs // 2``, so even sizes put the extra row/column after the centre, as
            every seed does; blocks larger than the map are clipped to it per axis.
        gamma: ``"exact"`` (expected dropped fraction equals ``p``) or ``"paper"`` (eq. 1).
        seeding: ``"uniform"`` (every pixel equally likely dropped) or ``"valid"`` (paper:
            seeds only where a whole block fits; centre-biased).
        per_channel: one mask per channel (paper's Algorithm 1) or one shared by all channels.
        batchwise: one mask for the whole batch instead of one per sample.
        training: identity when False.
        generator: optional ``torch.Generator`` on ``x``'s device.
        return_mask: also return the 0/1 keep mask (before rescaling).
        inplace: write the result into ``x`` (as ``torchvision.ops.drop_block2d``). Safe
            under autograd: the multiply's backward needs only the mask, and PyTorch's
            version counter raises if the producer of ``x`` still needs its values.
        algorithm: mask construction, see :func:`drop_block_mask`.

    Returns:
        Tensor[N, C, H, W] like ``x`` (dtype, device and memory format preserved), or
        ``(y, keep_mask)`` with ``keep_mask`` of shape ``[N or 1, C or 1, H, W]`` in
        ``x.dtype``.
    """,
)


# FX: record drop_block calls (from DropBlock2d.forward, or user code in this module's
# style) as leaf nodes rather than tracing the value-dependent mask construction.
torch.fx.wrap("drop_block")


class DropBlockBase(nn.Module):
    """Hyperparameters shared by :class:`DropBlock2d` and :class:`DropBlock3d`.

    ``p`` may be updated between steps (e.g. from :class:`dropcore.LinearSchedule`).
    """

    def __init__(
        self,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = "exact",
        seeding: Seeding = "uniform",
        per_channel: bool = True,
        batchwise: bool = False,
        inplace: bool = False,
        algorithm: Algorithm = "auto",
    ) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.block_size = check_positive_int(block_size, "block_size")
        self.gamma: GammaMode = check_choice(gamma, "gamma", GAMMA_MODES)
        self.seeding: Seeding = check_choice(seeding, "seeding", SEEDINGS)
        self.per_channel = bool(per_channel)
        self.batchwise = bool(batchwise)
        self.inplace = check_flag(inplace, "inplace")
        self.algorithm: Algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)

    def extra_repr(self) -> str:
        return (
            f"p={self.p}, block_size={self.block_size}, gamma={self.gamma!r}, "
            f"seeding={self.seeding!r}, per_channel={self.per_channel}, "
            f"batchwise={self.batchwise}, inplace={self.inplace}, algorithm={self.algorithm!r}"
        )


class DropBlock2d(DropBlockBase):
    """Module form of :func:`drop_block`; stores hyperparameters only.

    Args: as :func:`drop_block` (``p``, ``block_size`` and the keyword options).
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> Tensor[N, C, H, W]."""
        return drop_block(
            x,
            self.p,
            self.block_size,
            gamma=self.gamma,
            seeding=self.seeding,
            per_channel=self.per_channel,
            batchwise=self.batchwise,
            training=self.training,
            generator=generator,
            inplace=self.inplace,
            algorithm=self.algorithm,
        )
