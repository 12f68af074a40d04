"""A recipe's activation regularizer as ``fn(x, generator) -> (y, dropped)``.

The sites of a training recipe log what they dropped and never look at a mask, so they
call the measured forms of the dropcore functions, with the mask scaled in place and
counted once (see ``dropcore._masking``). With the recipe's ``"counter"`` sampler,
element-wise dropout and DropBlock masks come from the counter stream (``dropcore._counter``);
otherwise a site gives the same output for the same generator state as ``dropout``,
``spatial_dropout``, ``drop_block`` or ``drop_path``. Arguments were validated
when the :class:`~.spec.Recipe` was built, so nothing is re-checked per call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._block_apply import Algorithm, drop_block_measured
from .._block_masks import Geometry
from .._masking import bernoulli_measured
from ..droppath import path_mask_shape
from ..spatial import channel_mask_shape
from .spec import Recipe

__all__ = ["MeasuredFn", "measured_fn"]

MeasuredFn = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def measured_fn(recipe: Recipe, p: float) -> MeasuredFn:
    """``fn(x, generator) -> (y, dropped)`` for ``recipe``'s method at rate ``p``.

    ``x`` is Tensor[N, C, H, W]; ``dropped`` is the fraction of the mask that was zero, a
    0-d tensor (reading it is the caller's host sync).
    """
    method = recipe.method
    if method == "dropout":
        return lambda x, g: bernoulli_measured(
            x, tuple(x.shape), p, rescale=recipe.inverted, generator=g, sampler=recipe.sampler
        )
    if method == "spatial_dropout":
        return lambda x, g: bernoulli_measured(
            x, channel_mask_shape(tuple(x.shape)), p, rescale=True, generator=g
        )
    if method == "drop_path":
        return lambda x, g: bernoulli_measured(
            x, path_mask_shape(tuple(x.shape), "row"), p, rescale=True, generator=g
        )
    if method == "drop_block":
        algorithm: Algorithm = "counter" if recipe.sampler == "counter" else "auto"
        return lambda x, g: drop_block_measured(x, _geometry(recipe, p, x), algorithm, g)
    raise ValueError(f"method {method!r} does not act on activations")


def _geometry(recipe: Recipe, p: float, x: torch.Tensor) -> Geometry:
    return Geometry(
        tuple(x.shape),
        p,
        recipe.block_size,
        recipe.gamma,
        recipe.seeding,
        recipe.per_channel,
        False,
    )
