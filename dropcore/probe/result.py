"""What a probe returns: frozen records of CPU tensors, all from one stochastic pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .settings import ProbeSettings

__all__ = ["ProbeResult", "SiteRecord"]


@dataclass(frozen=True)
class SiteRecord:
    """One injection site of a probe.

    Names: ``"layer3.2.branch"`` / ``"layer3.2.skip"`` for activation methods and DropPath,
    ``"layer3.2.conv2"`` / ``"layer3.0.downsample"`` for DropConnect (one site per conv).

    Attributes:
        name: site name (see above).
        target_p: drop probability asked for at this site (after depth scaling).
        expected_drop: analytic expected dropped fraction (differs from ``target_p`` only
            for DropBlock with ``gamma="paper"``).
        measured_drop: fraction of mask entries dropped, over all draws.
        keep_mask: keep mask of the first draw, ``torch.bool`` (True = kept), before
            rescaling: ``[C or 1, H, W]`` for Dropout/DropBlock, ``[C, 1, 1]`` for
            SpatialDropout, ``[1, 1, 1]`` for DropPath, the weight's shape for DropConnect.
            ``None`` when the site was not recorded.
        before (Tensor[C, H, W]): the first draw's activation entering the regularizer (for
            DropConnect: the conv output with the intact weights). ``None`` if not recorded.
        after (Tensor[C, H, W]): the same activation after the regularizer (DropConnect: with
            the dropped weights). ``None`` if not recorded.
    """

    name: str
    target_p: float
    expected_drop: float
    measured_drop: float
    keep_mask: torch.Tensor | None
    before: torch.Tensor | None
    after: torch.Tensor | None


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe computed; every tensor is on the CPU.

    Row ``i`` of ``logits`` and ``cams`` and the masks of draw ``0`` in ``sites`` come
    from the same forward pass.

    Attributes:
        settings: the settings probed.
        seed: the seed of the draws.
        samples: number of independent draws ``S``.
        target: class explained by every CAM (the baseline's top-1 unless given).
        baseline_logits (Tensor[K]): logits without regularizer.
        logits (Tensor[S, K]): logits of each draw.
        sites: one record per injection site, in forward order (empty for ``"none"``).
        cam_baseline (Tensor[h, w]): Grad-CAM of the baseline, in [0, 1].
        cams (Tensor[S, h, w]): Grad-CAM of each draw, in [0, 1].
        elapsed_s: wall-clock seconds of the call (including waiting for a compute slot).
    """

    settings: ProbeSettings
    seed: int
    samples: int
    target: int
    baseline_logits: torch.Tensor
    logits: torch.Tensor
    sites: tuple[SiteRecord, ...]
    cam_baseline: torch.Tensor
    cams: torch.Tensor
    elapsed_s: float

    def site(self, name: str) -> SiteRecord:
        """The record called ``name``; ``KeyError`` listing the names if there is none."""
        for record in self.sites:
            if record.name == name:
                return record
        raise KeyError(f"no site {name!r}; sites are {[r.name for r in self.sites]}")
