"""Pictures of a probe, drawn once per server: a bounded cache shared by every session.

Everything a page draws from a probe result (CAM overlays, masks, activation grids) depends
only on that probe, so it is keyed by the probe's :class:`~dropcore.probe.ProbeKey`: a
class that asks for the same setting encodes its pictures once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from dropcore.probe import ProbeKey, SharedCache

__all__ = ["shared"]

T = TypeVar("T")
# Encoded pictures of recent probes: a Playground view is ~100 KB, so this holds hundreds.
_PICTURE_BUDGET = 48 * 2**20


def _encoded_bytes(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
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
