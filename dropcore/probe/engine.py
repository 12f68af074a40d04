"""``probe``: one stochastic pass of a shared ResNet with a regularizer injected.

How it works (and why it is safe to call from many threads on one model):

* The forward is functional (:mod:`.resnet`): modules are read, never called or changed,
  so no hook, ``train()``, module swap or BatchNorm update can happen.
* Everything before the first injection site (and before the Grad-CAM layer), the
  *prefix*, is computed once at batch 1, and so is the rest of the baseline (no
  regularizer); the draws run on a batch ``[draw_1 .. draw_k]`` per chunk (expanded from
  one row where the first regularizer acts, see :mod:`.inject`). Prefix and baseline
  depend only on the model and the image, so a :class:`~.reuse.Reuse` can supply them; the
  draws are the same numbers either way.
* Grad-CAM comes from the same pass: the CAM layer's output is detached, marked
  ``requires_grad`` and the forward continues from it; ``torch.autograd.grad`` then
  differentiates the target score with respect to it only (no parameter ``.grad`` is
  touched; the backward covers only the layers after the CAM layer).
* Draw ``i`` uses its own ``torch.Generator`` seeded from ``(seed, i)``, so the same seed
  and settings give bit-identical masks and logits, alone or concurrently, and draw ``i``'s
  masks do not depend on ``samples``.
* Draws run in chunks (8 on CPU, 32 on GPU); each chunk holds one process-wide compute
  slot and runs on the limiter's long-lived threads (:mod:`.limiter`), and
  ``progress(done, total)`` is called after it, in the caller's thread. An exception
  raised by ``progress`` stops the probe and propagates (nothing is left behind): that is
  how a newer interaction supersedes an old Monte-Carlo run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from .._layout import memory_format_of
from .._validate import check_index
from .gradcam import grad_cam
from .inject import Injector, SiteTally, run_block
from .limiter import ComputeSlots, compute_slots
from .plan import ForwardPlan, Site, plan_forward
from .resnet import Block, head, resnet_blocks, stem
from .result import ProbeResult, SiteRecord
from .reuse import Baseline, Reuse
from .settings import ProbeSettings

__all__ = ["CHUNK_SIZES", "draw_seed", "probe"]

Progress = Callable[[int, int], None]

# CPU: per-image cost stops falling beyond ~8 rows, and small chunks keep progress lively
# and let other sessions' chunks interleave. GPU: one chunk covers a typical MC run.
CHUNK_SIZES: dict[str, int] = {"cpu": 8, "cuda": 32}
_MASK64 = (1 << 64) - 1


def draw_seed(seed: int, draw: int) -> int:
    """Seed of draw ``draw`` of a probe seeded with ``seed`` (SplitMix64 of both).

    Mixing keeps the draws of nearby seeds unrelated (seed 1's draws are not seed 0's
    draws shifted by one).
    """
    z = (seed * 0x9E3779B97F4A7C15 + (draw + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _check_image(x: object, model: nn.Module) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point torch.Tensor, got {x!r:.80}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    conv1 = cast(nn.Conv2d, model.conv1)  # resnet_blocks checked the type
    channels = conv1.in_channels
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != channels:
        raise ValueError(
            f"x must have shape (1, {channels}, H, W) or ({channels}, H, W): probe explains "
            f"one image; got {tuple(x.shape)}"
        )
    weight = conv1.weight
    # Activations follow the weights' layout (a channels-last model gets channels-last x).
    x = x.detach().to(weight.device, weight.dtype)
    return x.contiguous(memory_format=memory_format_of(weight))


def _record_set(record: bool | Collection[str], sites: tuple[Site, ...]) -> frozenset[str]:
    names = [s.name for s in sites]
    if record is True:
        return frozenset(names)
    if record is False:
        return frozenset()
    if isinstance(record, str) or not isinstance(record, Collection):
        raise ValueError(
            f"record must be True, False or a collection of site names, got {record!r}"
        )
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise ValueError(f"record: unknown sites {unknown}; these settings have sites {names}")
    return frozenset(record)


def _run_units(
    model: nn.Module,
    blocks: tuple[Block, ...],
    h: torch.Tensor,
    start: int,
    stop: int,
    injector: Injector | None,
) -> torch.Tensor:
    """Units ``start..stop-1`` of the network: 0 = stem, 1..L = blocks (by depth)."""
    for unit in range(start, stop):
        h = stem(model, h) if unit == 0 else run_block(blocks[unit - 1], h, injector)
    return h


def _run_chunk(
    model: nn.Module,
    blocks: tuple[Block, ...],
    shared: torch.Tensor,
    plan: ForwardPlan,
    rows: int,
    injector: Injector | None,
    target: int | None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Forward ``shared`` (Tensor[1, ...], the output of the shared units) as ``rows`` rows
    and Grad-CAM them.

    Returns:
        ``(logits Tensor[rows, K], cams Tensor[rows, h, w], target)``; the target is the
        top-1 class of row 0 when ``target`` is None.
    """
    with torch.no_grad():
        h = _run_units(model, blocks, shared, plan.shared_stop, plan.cam_stop, injector)
    # Rows are still equal (one row) if no site acted before the CAM layer. A copy: ``h``
    # may be a stored prefix, which must not become a leaf of this graph.
    act = h.detach().expand(rows, *h.shape[1:])
    act = act.clone(memory_format=memory_format_of(h)).requires_grad_()
    with torch.enable_grad():
        h = _run_units(model, blocks, act, plan.cam_stop, plan.units, injector)
        logits = head(model, h)
        if target is None:
            target = int(logits[0].argmax())
        (grad,) = torch.autograd.grad(logits[:, target].sum(), act)
    return logits.detach(), grad_cam(act.detach(), grad), target


def _draw_spans(samples: int, chunk: int) -> list[tuple[int, int]]:
    """``(first, last)`` draw ranges of the chunks."""
    return [(k, min(k + chunk, samples)) for k in range(0, samples, chunk)]


def _baseline(
    model: nn.Module,
    blocks: tuple[Block, ...],
    prefix: torch.Tensor,
    plan: ForwardPlan,
    target: int | None,
) -> Baseline:
    """The unregularized rest of the pass from ``prefix`` (Tensor[1, ...]), at batch 1."""
    logits, cams, resolved = _run_chunk(model, blocks, prefix, plan, 1, None, target)
    with torch.inference_mode():  # stored values: an in-place write must raise
        return Baseline(logits[0].clone(), cams[0].clone(), resolved)


class _Fresh:
    """The :class:`~.reuse.Reuse` of a probe given none: computes everything."""

    def prefix(self, stop: int, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        return compute()

    def baseline(
        self, cam_layer: str, target: int | None, compute: Callable[[], Baseline]
    ) -> Baseline:
        return compute()


def probe(
    model: nn.Module,
    x: torch.Tensor,
    settings: ProbeSettings,
    *,
    seed: int = 0,
    samples: int = 1,
    target: int | None = None,
    progress: Progress | None = None,
    record: bool | Collection[str] = True,
    reuse: Reuse | None = None,
) -> ProbeResult:
    """Run ``model`` on ``x`` with the regularizer of ``settings`` injected.

    Args:
        model: a torchvision-style ResNet; read only (its mode, hooks and buffers are
            ignored and untouched).
        x (Tensor[1, 3, H, W] or Tensor[3, H, W]): one preprocessed image, any device.
        settings: what to inject where.
        seed: seed of the draws (integer in [0, 2**64)).
        samples: number of independent draws ``S`` (batched, in chunks).
        target: class every CAM explains; None = the baseline's top-1.
        progress: ``progress(done, total)`` after each chunk of draws; raise in it to stop.
        record: site names whose first-draw mask and activations are kept (True: all,
            False: none; measured drop fractions are always computed). At ResNet-50's
            ``layer3`` one site holds ~1.8 MB, so a server may want only the shown site.
        reuse: stored prefixes and baselines of this model and image (see :mod:`.reuse`);
            None computes them. It must belong to ``model`` and ``x``: another input's
            values give another input's result.

    Returns:
        A :class:`ProbeResult` of CPU tensors.

    Raises:
        ValueError: bad arguments, or a model not shaped like a torchvision ResNet.
    """
    start_time = time.perf_counter()
    if not isinstance(settings, ProbeSettings):
        raise ValueError(f"settings must be a ProbeSettings, got {settings!r}")
    seed = check_index(seed, "seed", 0, 1 << 64)
    samples = check_index(samples, "samples", 1)
    blocks = resnet_blocks(model)
    classes = cast(nn.Linear, model.fc).out_features  # resnet_blocks checked the type
    if target is not None:
        target = check_index(target, "target", 0, classes)
    plan = plan_forward(blocks, settings)
    sites = plan.sites
    recorded = _record_set(record, sites)
    x = _check_image(x, model)
    device = x.device
    tallies = {site.name: SiteTally(site) for site in sites}
    slots = compute_slots(device)

    reuse = _Fresh() if reuse is None else reuse
    with torch.inference_mode(False):
        prefix = reuse.prefix(plan.shared_stop, lambda: _prefix(model, blocks, x, plan, slots))
        base = reuse.baseline(
            settings.cam_layer,
            target,
            lambda: slots.run(functools.partial(_baseline, model, blocks, prefix, plan, target)),
        )
        if sites:
            injection = _Injection(settings, plan, tallies, recorded)
            logits, cams = _draws(
                model,
                blocks,
                prefix,
                injection,
                base.target,
                [draw_seed(seed, i) for i in range(samples)],
                progress,
            )
        else:  # every draw is the baseline
            logits = base.logits.cpu().expand(samples, -1)
            cams = base.cam.cpu().expand(samples, -1, -1)
            if progress is not None:
                progress(samples, samples)

    return ProbeResult(
        settings=settings,
        seed=seed,
        samples=samples,
        target=base.target,
        baseline_logits=base.logits.cpu().clone(),
        logits=logits.clone(),
        sites=tuple(_site_record(tallies[s.name]) for s in sites),
        cam_baseline=base.cam.cpu().clone(),
        cams=cams.clone(),
        elapsed_s=time.perf_counter() - start_time,
    )


def _prefix(
    model: nn.Module,
    blocks: tuple[Block, ...],
    x: torch.Tensor,
    plan: ForwardPlan,
    slots: ComputeSlots,
) -> torch.Tensor:
    """Units ``[0, plan.shared_stop)`` on x (Tensor[1, 3, H, W]), as a stored value."""

    def run() -> torch.Tensor:
        with torch.inference_mode():  # an in-place write to a stored prefix must raise
            return _run_units(model, blocks, x, 0, plan.shared_stop, None)

    return slots.run(run)


@dataclass(frozen=True)
class _Injection:
    """What the draws of one probe inject, where, and what they count and record."""

    settings: ProbeSettings
    plan: ForwardPlan
    tallies: dict[str, SiteTally]
    recorded: frozenset[str]


def _draws(
    model: nn.Module,
    blocks: tuple[Block, ...],
    prefix: torch.Tensor,
    injection: _Injection,
    target: int,
    seeds: list[int],
    progress: Progress | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The draws of ``seeds`` in chunks: (logits Tensor[S, K], cams Tensor[S, h, w]) on the
    CPU; the tallies count every mask, and draw 0 records the ``recorded`` sites."""
    device, plan = prefix.device, injection.plan
    slots = compute_slots(device)
    chunk = CHUNK_SIZES.get(device.type, CHUNK_SIZES["cpu"])
    logits_parts: list[torch.Tensor] = []
    cam_parts: list[torch.Tensor] = []
    for first, last in _draw_spans(len(seeds), chunk):
        injector = Injector(
            injection.settings,
            plan.by_block,
            injection.tallies,
            [_generator(device, s) for s in seeds[first:last]],
            record=injection.recorded if first == 0 else frozenset(),
        )
        logits, cams, _ = slots.run(
            functools.partial(
                _run_chunk, model, blocks, prefix, plan, last - first, injector, target
            )
        )
        logits_parts.append(logits.cpu())
        cam_parts.append(cams.cpu())
        if progress is not None:
            progress(last, len(seeds))
    return torch.cat(logits_parts), torch.cat(cam_parts)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def _site_record(tally: SiteTally) -> SiteRecord:
    dropped = tally.total - int(tally.kept)
    assert tally.expected is not None  # set by the site's first draw
    return SiteRecord(
        name=tally.site.name,
        target_p=tally.site.p,
        expected_drop=float(tally.expected),
        measured_drop=dropped / tally.total,
        keep_mask=tally.keep_mask,
        before=tally.before,
        after=tally.after,
    )
