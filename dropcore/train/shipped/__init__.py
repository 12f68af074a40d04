"""Results the engine computed and the project ships, so a page is informative before anyone
trains (no weights: those come from real runs). ``tests/train/test_shipped.py`` retrains one
of them and checks it reproduces.

Files: ``<lesson>.json`` = ``{"lesson": key, "size": size, "seeds": n,
"results": {variant label: [RunResult dicts, one per seed]}}``, written by
``python -m dropcore.train.shipped export``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ..result import RunResult

__all__ = ["SHIPPED_DIR", "shipped_results"]

SHIPPED_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def shipped_results() -> dict[str, list[RunResult]]:
    """Variant label -> the shipped results of every shipped lesson (seeds in order; a run
    that several lessons share, such as ``none``, appears once)."""
    out: dict[str, list[RunResult]] = {}
    seen: set[str] = set()
    for path in sorted(SHIPPED_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        for label, runs in data["results"].items():
            for run in map(RunResult.from_dict, runs):
                if run.config.key() not in seen:
                    seen.add(run.config.key())
                    out.setdefault(label, []).append(run)
    return out
