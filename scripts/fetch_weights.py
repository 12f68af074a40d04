"""Build time: put the ImageNet weights into the torchvision cache and prove "auto" finds them.

The Dockerfile runs this with TORCH_HOME set to the image's cache directory, so that at
run time ``models.load(weights="auto")`` resolves the cached file with no network.

1. ``models.load(name, weights="imagenet")``: the cached file, or a download that torch
   checks against the hash in the file name; the loader then checks keys, shapes and
   finiteness. Same weights enum as the app, because it is the app's own loader.
2. Make the cache readable by every user: torch.hub writes downloads with mode 0600, and
   the container runs as a non-root user who would otherwise fall back to random weights.
3. Forget that model and load with ``weights="auto"`` and DROPLAB_WEIGHTS unset, exactly as
   the server will; fail (and so fail the build) if that is not the cached file.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # needs the repo root on sys.path first


def make_world_readable(root: Path) -> int:
    """chmod a+r on files and a+rx on directories under ``root``; returns files changed."""
    changed = 0
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        want = mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir():
            want |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        if want != mode:
            path.chmod(want)
            changed += path.is_file()
    return changed


def main() -> int:
    """Fetch, publish and verify the weights; non-zero exit if "auto" would not find them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("DROPLAB_MODEL") or "resnet50",
        choices=models.MODEL_NAMES,
    )
    args = parser.parse_args()
    if not os.environ.get("TORCH_HOME"):
        print("TORCH_HOME is not set: the weights would land in a user's home", file=sys.stderr)
        return 2
    # The server leaves DROPLAB_WEIGHTS unset in the image; so does this check.
    os.environ.pop("DROPLAB_WEIGHTS", None)

    try:
        fetched = models.load(args.model, weights="imagenet", device="cpu")
    except models.WeightsError as err:
        print(f"fetching {args.model} weights failed: {err}", file=sys.stderr)
        return 1
    print(f"fetched: {fetched.weights_source}")

    changed = make_world_readable(Path(os.environ["TORCH_HOME"]))
    print(f"made {changed} cached file(s) world-readable")

    models.clear_cache()
    resolved = models.load(args.model, weights="auto", device="cpu")
    if resolved.is_random:
        print(f'weights="auto" did not find the cache: {resolved.weights_source}', file=sys.stderr)
        return 1
    print(f'weights="auto" resolves to: {resolved.weights_source}')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
