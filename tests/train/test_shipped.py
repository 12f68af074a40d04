"""The results the project ships are what the engine computes."""

from __future__ import annotations

import pytest
import torch

from dropcore.train import train
from dropcore.train.shipped import shipped_results


def test_shipped_results_load_and_are_complete() -> None:
    shipped = shipped_results()
    if not shipped:
        pytest.skip("no shipped results in this checkout")
    for label, runs in shipped.items():
        assert [r.config.seed for r in runs] == list(range(len(runs))), label
        for r in runs:
            assert len(r.epochs) == r.config.epochs and 0.1 < r.test_acc <= 1.0


def test_a_shipped_run_reproduces() -> None:
    """Retrain the shipped 'none' seed 0 run with the thread count it was computed with
    (1): the curves agree (bit for bit on the machine kind that computed them; within one
    validation image elsewhere, where a different BLAS kernel can round differently)."""
    shipped = shipped_results()
    if "none" not in shipped:
        pytest.skip("no shipped results in this checkout")
    ref = shipped["none"][0]
    threads = torch.get_num_threads()
    torch.set_num_threads(int(ref.environment.get("threads", "1")))
    try:
        again = train(ref.config).result
    finally:
        torch.set_num_threads(threads)
    one_image = 1.0 / ref.config.val_size
    for a, b in zip(again.epochs, ref.epochs, strict=True):
        assert abs(a.val_acc - b.val_acc) <= one_image + 1e-12, (a.epoch, a.val_acc, b.val_acc)
        assert a.train_loss == pytest.approx(b.train_loss, abs=1e-3)
    assert abs(again.test_acc - ref.test_acc) <= 2e-4 + 1e-12
