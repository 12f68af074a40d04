"""What every probe of one (model, image) shares, so that a probe can reuse it.

A class on the Playground changes keep_prob, block size and seed hundreds of times on the
same few pictures. Two parts of each pass do not depend on those settings:

* the **prefix**: the units before the first injection site (and before the Grad-CAM
  layer), run on the single input row; it depends only on where it stops;
* the **baseline**: logits and Grad-CAM without a regularizer; it depends only on the CAM
  layer and the target.

:func:`~.engine.probe` computes both as batch-1 passes of their own, so its draws are the
same numbers whether the two were computed now or taken from a :class:`Reuse`
(:func:`~.cache.cached_probe` passes one backed by a process-wide store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["Baseline", "Reuse"]


@dataclass(frozen=True)
class Baseline:
    """The unregularized pass of one image.

    Attributes:
        logits (Tensor[K]): class scores.
        cam (Tensor[h, w]): Grad-CAM of ``target`` at the CAM layer.
        target: the class the CAM explains.
    """

    logits: torch.Tensor
    cam: torch.Tensor
    target: int


class Reuse(Protocol):
    """Stored prefixes and baselines of one (model, image); ``compute`` makes a missing one.

    Implementations hand the engine values it only reads, and may hand the same object to
    concurrent probes.
    """

    def prefix(self, stop: int, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Output (Tensor[1, C, H, W]) of units ``[0, stop)`` on the image."""
        ...

    def baseline(
        self, cam_layer: str, target: int | None, compute: Callable[[], Baseline]
    ) -> Baseline:
        """The baseline with its CAM at ``cam_layer`` for ``target`` (None: its top-1)."""
        ...
