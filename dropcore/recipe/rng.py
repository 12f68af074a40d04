"""Where a training run's masks get their randomness: one generator per device, seeded from
the run's seed, the DDP rank and the DataLoader worker.

Identically seeded DDP ranks that draw from identically seeded generators drop the same
blocks on every rank, which silently turns N ranks into one draw. Mixing the rank (and the
worker id, for masks drawn inside DataLoader workers) into the seed keeps every process's
masks distinct while the whole run stays reproducible from one integer.
"""

from __future__ import annotations

import threading

import torch
import torch.distributed as dist
from torch.utils.data import get_worker_info

__all__ = ["MaskRng", "mix_seed", "process_seed"]

_MASK64 = (1 << 64) - 1


def mix_seed(seed: int, *streams: int) -> int:
    """SplitMix64 of ``seed`` and each stream id: unrelated seeds for nearby inputs.

    Args:
        seed: the run's seed (any integer; taken modulo 2**64).
        streams: ids to mix in (rank, worker, ...).

    Returns:
        A 63-bit seed, valid for ``torch.Generator.manual_seed``.
    """
    z = seed & _MASK64
    for s in streams:
        z = (z ^ ((s + 1) * 0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
    return z & ((1 << 63) - 1)


def process_seed(seed: int) -> int:
    """``seed`` mixed with this process's DDP rank and DataLoader worker (the main process
    and each worker get their own stream)."""
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    info = get_worker_info()
    worker = info.id + 1 if info is not None else 0  # worker 0 differs from the main process
    return mix_seed(seed, rank, worker)


class MaskRng:
    """Lazily created, per-device mask generators for one regularized model.

    The generator is created on first use, in the process (rank, worker) that draws, so a
    model regularized before ``init_process_group`` or pickled into workers still gets
    distinct streams. ``reseed`` restarts every stream (e.g. for a bit-identical rerun).
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._generators: dict[torch.device, torch.Generator] = {}
        self._lock = threading.Lock()  # DataParallel replicas draw from several threads

    def generator(self, device: torch.device) -> torch.Generator:
        """The generator for ``device`` (created and seeded on first use)."""
        gen = self._generators.get(device)
        if gen is None:
            with self._lock:
                gen = self._generators.get(device)
                if gen is None:
                    gen = torch.Generator(device=device)
                    gen.manual_seed(process_seed(self.seed))
                    self._generators[device] = gen
        return gen

    def reseed(self, seed: int | None = None) -> None:
        """Forget every generator; the next draw restarts from ``seed`` (default: the same)."""
        with self._lock:
            if seed is not None:
                self.seed = int(seed)
            self._generators.clear()

    def __getstate__(self) -> dict[str, int]:
        # Generators and locks do not pickle; a copy (DataLoader worker, deepcopy) restarts
        # its streams from the seed in its own process.
        return {"seed": self.seed}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["seed"])  # type: ignore[misc]
