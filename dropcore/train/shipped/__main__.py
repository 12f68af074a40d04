"""``python -m dropcore.train.shipped export LESSON [--seeds 3] [--size lesson]``: write a
lesson's results from the run cache into this package (runs missing from the cache are
trained first)."""

from __future__ import annotations

import argparse
import json

from ..cache import RunCache
from ..presets import lesson_runs
from ..worker import compute
from . import SHIPPED_DIR


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m dropcore.train.shipped")
    ap.add_argument("command", choices=["export"])
    ap.add_argument("lesson")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--size", default="lesson")
    args = ap.parse_args()
    cache = RunCache()
    results: dict[str, list[dict[str, object]]] = {}
    for label, config in lesson_runs(args.lesson, args.seeds, args.size):
        compute(cache, config)
        found = cache.result(config)
        if found is None:
            raise SystemExit(f"{label} seed {config.seed} could not be computed")
        results.setdefault(label, []).append(found.to_dict())
    path = SHIPPED_DIR / f"{args.lesson}.json"
    payload = {"lesson": args.lesson, "size": args.size, "seeds": args.seeds, "results": results}
    path.write_text(json.dumps(payload, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
