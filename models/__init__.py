"""Pretrained models for DropLab: one shared, frozen, eval-mode instance per key.

``load(name, weights, device)`` -> :class:`LoadedModel`; see :mod:`models.loading`.
``models.images`` (image helpers) is a separate module.
"""

from .loading import *  # noqa: F403  (the facade re-exports loading's API)
from .loading import __all__ as __all__
