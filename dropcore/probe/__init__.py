"""Live probe: run a shared ResNet once with a regularizer injected and return everything a
page shows (logits, masks, activations, Grad-CAM), all from that same stochastic pass.

Example::

    loaded = models.load("resnet50")                    # shared, frozen, eval mode
    x = loaded.transform(image)                         # Tensor[3, 224, 224]
    result = probe(loaded.model, x, ProbeSettings(p=0.1), seed=0, samples=32)
    result.logits.shape, result.cams.shape              # [32, 1000], [32, 7, 7]
    result.sites[0].name                                # "layer3.0.branch"

See :mod:`.engine` for how it stays read-only and thread-safe, :mod:`.analysis` for the
summaries pages need.
"""

from .analysis import (
    DropRow,
    TopKEntry,
    drop_table,
    entropy,
    flip_rate,
    kl_divergence,
    probabilities,
    topk_with_delta,
)
from .cache import (
    CacheStats,
    InputStore,
    Lookup,
    ProbeCache,
    ProbeKey,
    SharedCache,
    cached_probe,
    image_digest,
    probe_key,
    shared_cache,
    shared_inputs,
)
from .engine import CHUNK_SIZES, draw_seed, probe
from .gradcam import grad_cam, normalize_maps
from .limiter import set_concurrency
from .plan import site_names
from .result import ProbeResult, SiteRecord
from .reuse import Baseline, Reuse
from .settings import METHODS, STAGES, WHERE, ProbeSettings

__all__ = [
    "CHUNK_SIZES",
    "METHODS",
    "STAGES",
    "WHERE",
    "Baseline",
    "CacheStats",
    "DropRow",
    "InputStore",
    "Lookup",
    "ProbeCache",
    "ProbeKey",
    "ProbeResult",
    "ProbeSettings",
    "Reuse",
    "SharedCache",
    "SiteRecord",
    "TopKEntry",
    "cached_probe",
    "draw_seed",
    "drop_table",
    "entropy",
    "flip_rate",
    "grad_cam",
    "image_digest",
    "kl_divergence",
    "normalize_maps",
    "probabilities",
    "probe",
    "probe_key",
    "set_concurrency",
    "shared_cache",
    "shared_inputs",
    "site_names",
    "topk_with_delta",
]
