"""Fixtures for the training-engine tests: real Fashion-MNIST, tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropcore.train import RunCache, RunConfig

# A run small enough for CI (a few seconds) that still trains on the real data.
TINY = RunConfig(train_size=200, val_size=200, epochs=2, batch_size=50)


@pytest.fixture()
def cache(tmp_path: Path) -> RunCache:
    """An empty run cache in a temporary directory."""
    return RunCache(tmp_path / "runs")


@pytest.fixture()
def tiny() -> RunConfig:
    """The tiny run, with DropBlock on."""
    return RunConfig(**{**TINY.to_dict(), "method": "drop_block", "p": 0.1})
