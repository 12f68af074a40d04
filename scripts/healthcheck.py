"""Exit 0 when the local DropLab server answers ``/_stcore/health`` with 200 "ok".

The Dockerfile's HEALTHCHECK runs this (the slim image has no curl), and so does
scripts/container_check.sh. PORT selects the port (default 8501).
"""

from __future__ import annotations

import os
import sys
import urllib.request


def healthy(port: int, timeout: float = 4.0) -> bool:
    """True if the server on loopback ``port`` reports itself healthy."""
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(int(os.environ.get("PORT", "8501"))) else 1)
