"""Pretrained models for DropLab: one shared, frozen, eval-mode instance per key.

``load(name, weights, device)`` -> :class:`LoadedModel`; see :mod:`models.loading`.
``models.images`` (image helpers) is a separate module.
"""

from .loading import (
    CONNECT_TIMEOUT_S,
    MODEL_NAMES,
    RANDOM_INIT_SEED,
    LoadedModel,
    WeightsError,
    clear_cache,
    default_device,
    load,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MODEL_NAMES",
    "RANDOM_INIT_SEED",
    "LoadedModel",
    "WeightsError",
    "clear_cache",
    "default_device",
    "load",
]
