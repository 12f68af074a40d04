"""Fashion-MNIST (and CIFAR-10 when already on disk), found without surprises.

Fashion-MNIST is looked for, in this order:

1. ``$DROPLAB_DATA``: a directory holding the four IDX files (``.gz`` or not), or a
   torchvision root with ``FashionMNIST/raw/``;
2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
3. torchvision's download, when the network answers;
4. otherwise :class:`DataUnavailable` says how to get it.

Files are parsed by torchvision's own dataset code (which checks the IDX headers) and
checked for the expected sizes and labels (Debian recompresses the archives, so the
``.gz`` MD5 sums differ from torchvision's). Everything is held in memory as uint8 (47 MB
for the training set).
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, FashionMNIST

__all__ = [
    "CLASSES",
    "DATASETS",
    "DEBIAN_DIR",
    "DataUnavailable",
    "Dataset",
    "cache_root",
    "load_dataset",
]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS: tuple[str, ...] = ("fashion_mnist", "cifar10")
CLASSES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": tuple(FashionMNIST.classes),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}
_HOW_TO_GET = (
    "Fashion-MNIST was not found. Install Debian's package "
    "(`apt-get install dataset-fashion-mnist`, files in /usr/share/datasets/fashion-mnist), "
    "or set DROPLAB_DATA to a directory holding train-images-idx3-ubyte(.gz), "
    "train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz), "
    "or run once where the network answers (torchvision downloads it)."
)


class DataUnavailable(RuntimeError):
    """The dataset is not on disk and cannot be downloaded; the message says what to do."""


@dataclass(frozen=True)
class Dataset:
    """A labelled image set held in memory.

    Attributes:
        name: ``"fashion_mnist"`` or ``"cifar10"``.
        train_images (Tensor[N, C, H, W] uint8), train_labels (Tensor[N] int64).
        test_images (Tensor[M, C, H, W] uint8), test_labels (Tensor[M] int64).
        classes: class names.
        source: where the files came from, in words.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    source: str


def cache_root() -> Path:
    """Where decompressed copies and downloads go (``$DROPLAB_CACHE`` or ~/.cache/droplab)."""
    base = os.environ.get("DROPLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "droplab"
    )
    return Path(base)


def _raw_names() -> list[str]:
    # Decompressed file names, from torchvision's own resource list.
    return [os.path.basename(url).removesuffix(".gz") for url, _ in FashionMNIST.resources]


def _find_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (or its torchvision layout), else None."""
    for d in (directory, directory / "FashionMNIST" / "raw"):
        found = {}
        for name in _raw_names():
            for candidate in (d / name, d / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(_raw_names()):
            return found
    return None


def _stage(files: dict[str, Path], origin: str) -> Path:
    """A torchvision root whose FashionMNIST/raw holds the decompressed, checked files."""
    root = cache_root() / "data"
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in _raw_names():
        target = raw / name
        if target.is_file():
            continue
        src = files[name]
        # Decompress to a temp file and rename: a concurrent reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:
            opener = gzip.open if src.suffix == ".gz" else open
            with opener(src, "rb") as fin:
                shutil.copyfileobj(fin, tmp)
        os.replace(tmp.name, target)
    return root


def _network_answers(host: str = "fashion-mnist.s3-website.eu-central-1.amazonaws.com") -> bool:
    try:
        with socket.create_connection((host, 80), timeout=3.0):
            return True
    except OSError:
        return False


def _locate_fashion_mnist() -> tuple[Path, str]:
    env = os.environ.get("DROPLAB_DATA", "").strip()
    if env:
        files = _find_files(Path(env))
        if files is None:
            raise DataUnavailable(
                f"DROPLAB_DATA={env} holds no Fashion-MNIST IDX files. " + _HOW_TO_GET
            )
        return _stage(files, f"DROPLAB_DATA={env}"), f"DROPLAB_DATA ({env})"
    files = _find_files(DEBIAN_DIR)
    if files is not None:
        return _stage(files, str(DEBIAN_DIR)), f"Debian dataset-fashion-mnist ({DEBIAN_DIR})"
    root = cache_root() / "data"
    if _find_files(root) is not None:
        return root, f"cached copy ({root})"
    if not _network_answers():
        raise DataUnavailable(_HOW_TO_GET)
    try:
        FashionMNIST(str(root), download=True)
    except Exception as exc:  # download failures come as many types
        raise DataUnavailable(f"downloading Fashion-MNIST failed ({exc}). {_HOW_TO_GET}") from exc
    return root, f"torchvision download ({root})"


def _fashion_mnist() -> Dataset:
    root, source = _locate_fashion_mnist()
    try:
        train = FashionMNIST(str(root), train=True, download=False)
        test = FashionMNIST(str(root), train=False, download=False)
    except Exception as exc:  # torchvision raises several types for damaged IDX files
        raise DataUnavailable(f"Fashion-MNIST from {source} is damaged: {exc}") from exc
    sizes = (tuple(train.data.shape), tuple(test.data.shape))
    if sizes != ((60000, 28, 28), (10000, 28, 28)) or int(train.targets.max()) != 9:
        raise DataUnavailable(f"Fashion-MNIST from {source} is damaged: image arrays {sizes}")
    return Dataset(
        "fashion_mnist",
        train.data.unsqueeze(1),
        train.targets.long(),
        test.data.unsqueeze(1),
        test.targets.long(),
        CLASSES["fashion_mnist"],
        source,
    )


def _cifar10() -> Dataset:
    env = os.environ.get("DROPLAB_DATA", "").strip()
    roots = [Path(env)] if env else []
    roots.append(cache_root() / "data")
    for root in roots:
        if (root / CIFAR10.base_folder).is_dir():
            train = CIFAR10(str(root), train=True, download=False)
            test = CIFAR10(str(root), train=False, download=False)
            as_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
            return Dataset(
                "cifar10",
                as_tensor(train.data),
                torch.tensor(train.targets),
                as_tensor(test.data),
                torch.tensor(test.targets),
                CLASSES["cifar10"],
                f"CIFAR-10 on disk ({root})",
            )
    raise DataUnavailable(
        f"CIFAR-10 is optional and used only when already on disk: put torchvision's "
        f"{CIFAR10.base_folder}/ under $DROPLAB_DATA or {cache_root() / 'data'}"
    )


@functools.lru_cache(maxsize=2)
def load_dataset(name: str = "fashion_mnist") -> Dataset:
    """The dataset ``name`` (one of :data:`DATASETS`), loaded once per process.

    Raises:
        ValueError: unknown name.
        DataUnavailable: not on disk and not downloadable; the message says what to do.
    """
    if name == "fashion_mnist":
        return _fashion_mnist()
    if name == "cifar10":
        return _cifar10()
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
