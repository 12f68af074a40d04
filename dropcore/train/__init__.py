"""Training engine: the regularizers' claims as experiments anyone can run in minutes.

A :class:`RunConfig` fully describes a run (Fashion-MNIST subset, small ResNet, recipe,
schedule, optimizer, seed); :func:`train` runs it deterministically; :class:`RunCache`
keeps results and weights under the configuration's key; :class:`RunManager` runs
configurations in background worker processes for a server (bounded, low priority,
single-flight, cancellable). ``python -m dropcore.train run --help`` is the CLI.

Needs torchvision (datasets and blocks): ``pip install droplab[train]``.
"""

from .cache import RunCache, default_root
from .config import ENGINE_VERSION, RunConfig
from .data import CLASSES, Dataset, DataUnavailable, load_dataset
from .jobs import RunManager, RunStatus
from .loop import Progress, RunCancelled, TrainedRun, build_model, train
from .result import EpochRecord, RunResult
from .smallnet import SmallResNet
from .splits import Splits, make_splits, normalize
from .worker import compute

__all__ = [
    "CLASSES",
    "ENGINE_VERSION",
    "DataUnavailable",
    "Dataset",
    "EpochRecord",
    "Progress",
    "RunCache",
    "RunCancelled",
    "RunConfig",
    "RunManager",
    "RunResult",
    "RunStatus",
    "SmallResNet",
    "Splits",
    "TrainedRun",
    "build_model",
    "compute",
    "default_root",
    "load_dataset",
    "make_splits",
    "normalize",
    "train",
]
