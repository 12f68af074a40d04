"""Applying a DropBlock mask to activations, shared by the 2-D and 3-D forms.

One call goes through three named steps:

1. :func:`plan_call` fixes, before anything is drawn, how the mask is built (sparse seeds
   or a dense field) and laid out (full size in the input's memory format, or broadcast
   over samples/channels). The :class:`CallPlan` is small and frozen.
2. The mask is drawn and rendered (see ``_block_masks``): a sparse draw renders into a
   buffer in the plan's layout, a dense field is pooled.
3. :func:`apply_keep` multiplies by the mask and the ``count / sum`` scale in one pass
   (``addcmul`` for full-size masks the caller sees, a plain multiply by the mask scaled
   in place for one nobody sees, a tiled multiply for shared ones).

A full-size sparse mask that nobody asked to see takes a shortcut: it is rendered straight
into the output buffer and re-rendered in backward (:class:`_SparseDropBlock`), so no
mask-sized tensor lives between forward and backward.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ._block_masks import (
    Geometry,
    Seeds,
    dense_keep,
    draw_seeds,
    dropped_counts,
    dropped_offsets,
    table_fits,
)
from ._counter import counter_applies
from ._counter_block import counter_block_keep
from ._layout import flat_storage, is_dense, memory_format_of
from ._masking import identity_result, kept_count, masked_scale, scaled_
from ._validate import (
    check_choice,
    check_floating,
    check_generator,
    check_ndim,
    check_positive_int,
    check_probability,
)
from .gamma import GAMMA_MODES, SEEDINGS

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "CallPlan",
    "apply_keep",
    "block_keep_mask",
    "check_input",
    "checked_geometry",
    "drop_block_measured",
    "drop_block_nd",
    "plan_call",
]

Algorithm = Literal["auto", "sparse", "dense", "counter"]
ALGORITHMS: tuple[Algorithm, ...] = ("auto", "sparse", "dense", "counter")


def check_input(x: object, dims: int, fn: str) -> torch.Tensor:
    """``x`` as a floating tensor with ``dims`` dimensions, or a ValueError/TypeError."""
    layout = "(N, C, H, W)" if dims == 4 else "(N, C, D, H, W)"
    check_ndim(x, dims, fn, layout)
    assert isinstance(x, torch.Tensor)  # check_ndim raised otherwise
    check_floating(x, fn)
    return x


def checked_geometry(
    shape: tuple[int, ...],
    p: object,
    block_size: object,
    gamma: object,
    seeding: object,
    per_channel: object,
    batchwise: object,
    algorithm: object,
    device: torch.device,
    generator: object,
    fn: str,
) -> tuple[Geometry, Algorithm]:
    """Validate every option (ValueErrors name the bad one), then build the geometry."""
    geo = Geometry(
        shape,
        check_probability(p),
        check_positive_int(block_size, "block_size"),
        check_choice(gamma, "gamma", GAMMA_MODES),
        check_choice(seeding, "seeding", SEEDINGS),
        bool(per_channel),
        bool(batchwise),
    )
    algo = check_choice(algorithm, "algorithm", ALGORITHMS)
    check_generator(generator, device, fn)
    return geo, algo


@dataclass(frozen=True)
class CallPlan:
    """How one training-mode call builds and lays out its mask.

    Attributes:
        geo: the call's geometry.
        sparse: draw seeds sparsely (else a dense Bernoulli field, dilated).
        full_size: the mask has the input's shape (per channel and per sample).
        layout: memory format of the rendered mask: the input's when full size
            (channels-last stays channels-last), contiguous otherwise.
    """

    geo: Geometry
    sparse: bool
    full_size: bool
    layout: torch.memory_format

    @property
    def fused(self) -> bool:
        """Render a sparse full-size mask straight into the output (no mask tensor)."""
        return self.sparse and self.full_size


def _use_sparse(geo: Geometry, algorithm: Algorithm, device: torch.device) -> bool:
    if algorithm in ("sparse", "dense"):
        return algorithm == "sparse"
    # Under torch.compile the sparse draw's seed count is data-dependent (a graph break per
    # call), so "auto" takes the dense path there: one graph, no host sync.
    return not torch.compiler.is_compiling() and geo.sparse_is_cheaper(device)


def plan_call(x: torch.Tensor, geo: Geometry, algorithm: Algorithm) -> CallPlan:
    """Choose the renderer and the mask layout for ``x`` (Tensor[N, C, *sizes], dense)."""
    sparse = _use_sparse(geo, algorithm, x.device)
    full_size = geo.mask_shape == tuple(x.shape)
    layout = memory_format_of(x) if full_size else torch.contiguous_format
    return CallPlan(geo, sparse, full_size, layout)


class _SparseKeep:
    """One sparse seed draw, rendered on demand as a fresh 0/1 keep mask with fixed strides.

    Rendering twice gives the same mask, so backward re-renders it instead of keeping a
    full-size mask alive between forward and backward.
    """

    def __init__(self, plan: CallPlan, seeds: Seeds) -> None:
        self.geo = plan.geo
        shape = self.geo.mask_shape
        self.layout = plan.layout
        self.strides = torch.empty(shape, device="meta", memory_format=plan.layout).stride()
        self.device = seeds.plane.device
        if table_fits(self.geo):
            self.seeds: Seeds | None = seeds
            self.offsets: torch.Tensor | None = None
        else:
            # Only the offsets are needed from here on; the seeds can go.
            self.seeds = None
            self.offsets = dropped_offsets(self.geo, seeds, self.strides)

    def __call__(self, dtype: torch.dtype) -> torch.Tensor:
        """Tensor[mask_shape] of ``dtype`` (1 = kept) with ``self.strides``."""
        if self.seeds is not None:
            wide = torch.float32 if dtype == torch.bool else dtype
            counts = dropped_counts(self.geo, self.seeds, wide, self.device)
            keep = counts == 0 if dtype == torch.bool else counts.eq_(0)
            # Channels-last: rendering row-major and permuting once (one copy of the mask)
            # beats painting by index (2x slower at 14x14, measured in a training step).
            return keep.view(self.geo.mask_shape).contiguous(memory_format=self.layout)
        keep = torch.empty_strided(
            self.geo.mask_shape, self.strides, dtype=dtype, device=self.device
        )
        flat = flat_storage(keep)
        flat.fill_(1)
        flat[self.offsets] = 0
        return keep


def _host_scale(kept: float, total: int) -> float:
    # count/sum normalisation; all dropped gives scale 0, so exact zeros rather than NaN.
    return total / kept if kept > 0 else 0.0


def _device_scale(kept: torch.Tensor, total: int) -> torch.Tensor:
    # The same normalisation as a tensor: no host sync, so GPU work and compiled graphs
    # stay asynchronous and unbroken.
    kept = kept.to(torch.float64)
    return torch.where(kept > 0, total / kept.clamp_min(1), 0.0)


def _scaled_into(keep: torch.Tensor, x: torch.Tensor, scale: float) -> torch.Tensor:
    """``keep * x * scale`` written over ``keep`` in one fused pass."""
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.addcmul(zero, keep, x, value=scale, out=keep)


def _sparse_forward(x: torch.Tensor, keep_of: _SparseKeep) -> tuple[torch.Tensor, float]:
    """``(x * keep * scale, scale)`` for a full-size mask, built in one output buffer."""
    keep = keep_of(x.dtype)
    scale = _host_scale(float(kept_count(keep)), x.numel())
    return _scaled_into(keep, x, scale), scale


class _SparseDropBlock(torch.autograd.Function):
    """Autograd for :func:`_sparse_forward`: backward re-renders the mask from the seeds
    (or offsets) rather than keeping a full-size mask alive."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, keep_of: _SparseKeep) -> torch.Tensor:
        y, ctx.scale = _sparse_forward(x, keep_of)
        ctx.keep_of = keep_of
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _scaled_into(ctx.keep_of(grad.dtype), grad, ctx.scale), None


# Inner-loop length the shared-mask multiply is widened to (see ``_broadcast_mul``).
_MIN_INNER = 2048


@functools.lru_cache(maxsize=256)
def _tile_factor(channels: int, plane: int) -> int:
    """Largest divisor of ``channels`` with ``divisor * plane <= _MIN_INNER``."""
    return next(d for d in range(min(channels, _MIN_INNER // plane), 0, -1) if channels % d == 0)


def _broadcast_mul(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x * mask`` for a mask shared across channels, with a long inner loop.

    Broadcasting over C leaves an inner loop of only one map (49 elements at 7x7), and its
    per-row overhead dominates. Tiling the mask ``k`` times along its plane (``k`` a
    divisor of C) lets the kernel run ``k`` maps per row (measured 1.20 -> 0.99 ms at
    (32, 2048, 7, 7), 2.15 -> 1.96 ms at 14x14); the tile is tiny and stays in cache.

    Args:
        x (Tensor[N, C, *sizes]): activations.
        mask (Tensor[N or 1, C or 1, *sizes]): scaled keep mask.

    Returns:
        Tensor[N, C, *sizes]: ``x * mask``.
    """
    n, c = x.shape[:2]
    plane = x[0, 0].numel() if x.numel() else 1
    tileable = mask.shape[1] == 1 and plane < _MIN_INNER and x.is_contiguous()
    k = _tile_factor(c, plane) if tileable else 1
    if k == 1:
        return x * mask
    tile = mask.reshape(mask.shape[0], 1, plane).repeat(1, 1, k)
    return (x.view(n, c // k, k * plane) * tile).view(x.shape)


def apply_keep(
    x: torch.Tensor,
    keep: torch.Tensor,
    *,
    inplace: bool,
    owned: bool = False,
    kept: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x * keep * count(keep) / sum(keep)`` (zeros when everything is dropped).

    Args:
        x (Tensor[N, C, *sizes]): activations.
        keep (Tensor[N or 1, C or 1, *sizes]): 0/1 keep mask in ``x.dtype``.
        inplace: write the result into ``x`` (autograd checks, through the version
            counter, that nothing still needs the old values).
        owned: nobody else holds ``keep``: it is scaled in place and multiplied with a
            plain ``x * keep`` (see ``dropcore._masking``).
        kept: ``kept_count(keep)`` when the caller has it already.
    """
    kept = kept_count(keep) if kept is None else kept
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        # The host reads the count anyway on CPU, so the scale is a plain float. A full-size
        # mask is applied in one fused op (no mask-sized temporary); a broadcast one by mul,
        # which has the faster broadcasting kernel.
        scale = _host_scale(float(kept), keep.numel())
        if inplace:
            return x.mul_(keep).mul_(scale)
        if owned:
            keep = scaled_(keep, scale)
            return x * keep if keep.shape == x.shape else _broadcast_mul(x, keep)
        if keep.shape == x.shape:
            return masked_scale(x, keep, scale)
        return _broadcast_mul(x, keep * scale)
    device_scale = _device_scale(kept, keep.numel()).to(x.dtype)
    factor = scaled_(keep, device_scale) if owned else keep * device_scale
    return x.mul_(factor) if inplace else x * factor


def block_keep_mask(
    geo: Geometry, algorithm: Algorithm, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Boolean keep mask of ``geo.mask_shape`` (contiguous)."""
    if algorithm == "counter" and _counter_applies(device, geo):
        strides = torch.empty(geo.mask_shape, device="meta").stride()
        return counter_block_keep(geo, torch.float32, strides, generator)[0] != 0
    if not _use_sparse(geo, algorithm, device):
        return dense_keep(geo, device, generator)
    plan = CallPlan(geo, True, False, torch.contiguous_format)
    return _SparseKeep(plan, draw_seeds(geo, device, generator))(torch.bool)


def _render(plan: CallPlan, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """The plan's keep mask in ``x.dtype`` and the plan's layout."""
    if plan.sparse:
        return _SparseKeep(plan, draw_seeds(plan.geo, x.device, generator))(x.dtype)
    keep = dense_keep(plan.geo, x.device, generator).to(x.dtype)
    # A full-size mask follows the input's layout so the multiply streams both in order.
    return keep.contiguous(memory_format=plan.layout) if plan.full_size else keep


def drop_block_nd(
    x: torch.Tensor,
    geo: Geometry,
    algorithm: Algorithm,
    *,
    training: bool,
    generator: torch.Generator | None,
    return_mask: bool,
    inplace: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """DropBlock on validated arguments; see :func:`dropcore.drop_block`.

    Args:
        x (Tensor[N, C, *sizes]): activations.

    Returns:
        ``y`` or ``(y, keep)`` with ``keep`` of ``geo.mask_shape`` in ``x.dtype``.
    """
    if not training or geo.p == 0.0:
        return identity_result(x, geo.mask_shape, return_mask)
    if not is_dense(x) and not inplace:
        # Sparse offsets and the fused multiply need a dense layout.
        x = x.contiguous()
    if algorithm == "counter" and _counter_applies(x.device, geo):
        y, mask, _ = _counter_apply(x, geo, generator, inplace=inplace)
        return (y, (mask != 0).to(x.dtype)) if return_mask else y
    plan = plan_call(x, geo, algorithm)
    if plan.fused and not return_mask and not inplace:
        keep_of = _SparseKeep(plan, draw_seeds(geo, x.device, generator))
        if torch.is_grad_enabled() and x.requires_grad:
            return _SparseDropBlock.apply(x, keep_of)
        return _sparse_forward(x, keep_of)[0]
    keep = _render(plan, x, generator)
    y = apply_keep(x, keep, inplace=inplace, owned=not return_mask)
    return (y, keep) if return_mask else y


def _counter_applies(device: torch.device, geo: Geometry) -> bool:
    # The kernel paints 2-D maps; elsewhere "counter" means "auto".
    return counter_applies(device) and len(geo.sizes) == 2


def _counter_apply(
    x: torch.Tensor, geo: Geometry, generator: torch.Generator | None, *, inplace: bool
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(x * mask, mask, dropped)``: a counter-stream mask already scaled by
    ``count / kept`` (``dropcore._counter_block``: one kernel call draws, paints, counts and
    scales) and its number of dropped cells."""
    full_size = geo.mask_shape == tuple(x.shape) and is_dense(x)
    strides = x.stride() if full_size else torch.empty(geo.mask_shape, device="meta").stride()
    mask, dropped = counter_block_keep(geo, x.dtype, strides, generator)
    if inplace:
        return x.mul_(mask), mask, dropped
    return (x * mask if full_size else _broadcast_mul(x, mask)), mask, dropped


def drop_block_measured(
    x: torch.Tensor, geo: Geometry, algorithm: Algorithm, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training-time DropBlock on validated arguments and the fraction of the mask that
    dropped: the same output as :func:`drop_block_nd` for the same generator state.

    The mask is kept for backward (one multiply each way, no re-rendering) and is already
    scaled, since nobody sees it.

    Args:
        x (Tensor[N, C, *sizes]): activations.

    Returns:
        ``(y, dropped)``: Tensor like ``x``, and a 0-d tensor.
    """
    if geo.p == 0.0:
        return x, torch.zeros((), device=x.device)
    if not is_dense(x):
        x = x.contiguous()
    if algorithm == "counter" and _counter_applies(x.device, geo):
        y, mask, n_dropped = _counter_apply(x, geo, generator, inplace=False)
        return y, torch.tensor(n_dropped / mask.numel())
    keep = _render(plan_call(x, geo, algorithm), x, generator)
    kept = kept_count(keep)
    dropped = 1.0 - kept / keep.numel()
    return apply_keep(x, keep, inplace=False, owned=True, kept=kept), dropped
