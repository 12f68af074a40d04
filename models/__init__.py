"""Pretrained models for DropLab: one shared, frozen, eval-mode instance per key.

``load(name, weights, device)`` -> :class:`LoadedModel`; see :mod:`models.loading`.
``load_trained(config)``: a network trained by the engine (:mod:`models.trained`).
``models.images`` (image helpers) is a separate module.
"""

from .loading import *  # noqa: F403  (the facade re-exports loading's API)
from .loading import __all__ as _loading_all
from .trained import *  # noqa: F403
from .trained import __all__ as _trained_all

__all__ = [*_loading_all, *_trained_all]
