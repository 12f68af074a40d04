"""Quality gates as tests, so CI's single test command enforces them: ruff's lint, ruff's
format and mypy over the library (dropcore/), the app's models/ package and its pages
(app.py, pages/); ruff's lint and format over the tests, benchmarks and scripts too,
mypy over the last two."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["dropcore", "models", "pages", "app.py"]
# Linted and formatted too; the benchmarks and scripts are type-checked too.
LINTED = ["tests", "bench", "scripts"]
TYPED = [*CHECKED, "bench", "scripts"]


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "command",
    [("check", *CHECKED, *LINTED), ("format", "--check", *CHECKED, *LINTED)],
    ids=["lint", "format"],
)
def test_ruff(command: tuple[str, ...]) -> None:
    done = _run("ruff", *command)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_mypy() -> None:
    # Settings (strictness, targets, untyped peers) live in pyproject.toml's [tool.mypy].
    done = _run("mypy", *TYPED)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
