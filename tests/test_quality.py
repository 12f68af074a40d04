"""Quality gates as tests, so CI's single test command enforces them: ruff (lint and
format) and mypy over the library (dropcore/) and the app's models/ package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["dropcore", "models"]


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("command", [("check",), ("format", "--check")],
                         ids=["lint", "format"])
def test_ruff(command: tuple[str, ...]) -> None:
    done = _run("ruff", *command, *TARGETS)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_mypy() -> None:
    # Settings (strictness, targets, untyped peers) live in pyproject.toml's [tool.mypy].
    done = _run("mypy", *TARGETS)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
