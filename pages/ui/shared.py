"""What pages draw from a probe, made once per server: a bounded cache shared by sessions.

Everything a page draws from a probe result (CAM overlays, masks, activation grids, whole
page models) depends only on that probe, so it is keyed by the probe's
:class:`~dropcore.probe.ProbeKey`: a class that asks for the same setting builds it once,
and a rerun that finds it touches no tensor at all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np

from dropcore.probe import Lookup, ProbeKey, ProbeSettings, SharedCache

__all__ = ["Viewed", "baseline_of", "shared", "shared_view"]

T = TypeVar("T")
# Encoded pictures of recent probes: a Playground view is ~100 KB, so this holds hundreds.
_PICTURE_BUDGET = 48 * 2**20


def _encoded_bytes(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (tuple, list)):
        return sum(_encoded_bytes(v) for v in value)
    if is_dataclass(value):
        return sum(_encoded_bytes(getattr(value, f.name)) for f in fields(value))
    return 0


_pictures: SharedCache[Hashable, Any] = SharedCache(_PICTURE_BUDGET, sizeof=_encoded_bytes)


def shared(probe: ProbeKey | None, part: Hashable, draw: Callable[[], T]) -> T:
    """``draw()``, computed once per server for the probe ``probe`` and ``part`` (which
    pictures of it); ``probe`` None (a result without a key): drawn here, not shared.

    ``draw`` must return immutable values (bytes, frozen dataclasses or tuples of them)
    that depend on nothing but the probe and ``part``: every session gets the same object.
    """
    if probe is None:
        return draw()
    value, _ = _pictures.get_or_compute((probe, part), draw)
    return value


def baseline_of(probe: ProbeKey) -> ProbeKey:
    """The key of the probe without a regularizer that has ``probe``'s baseline (same
    model, image, CAM layer and target): what pictures of the baseline are shared under."""
    return replace(
        probe,
        settings=ProbeSettings(method="none", cam_layer=probe.settings.cam_layer),
        seed=0,
        samples=1,
        record=False,
    )


@dataclass(frozen=True)
class Viewed(Generic[T]):
    """A page's view of one probe; ``shared`` when this session did not run the pass."""

    value: T
    shared: bool


class _NoResult(Exception):
    """The lookup gave no result (it has told the person why)."""


def shared_view(
    probe: ProbeKey,
    part: Hashable,
    lookup: Callable[[], Lookup | None],
    build: Callable[[Lookup], T],
) -> Viewed[T] | None:
    """``build(lookup())`` once per server for ``(probe, part)``; None if ``lookup`` gave
    None. ``build`` follows :func:`shared`'s rules; ``lookup`` must be the probe of key
    ``probe``, which only runs when the view is not stored (nor being built)."""
    passes: list[bool] = []

    def compute() -> T:
        found = lookup()
        if found is None:
            raise _NoResult
        passes.append(found.shared)
        return build(found)

    try:
        value, source = _pictures.get_or_compute((probe, part), compute)
    except _NoResult:
        return None
    return Viewed(value, shared=source != "computed" or passes[0])
