"""A bounded, process-wide cache of probe results, shared by every session of a server.

A probe is deterministic: the same model, image, settings, seed, samples, target and record
set give bit-identical results. When a teacher says "click the Paper setting preset", thirty
students ask for the same pass within a second; this cache turns that into one pass.

* **Shared**: one :class:`ProbeCache` per process (:func:`shared_cache`), keyed by
  :class:`ProbeKey`; least recently used entries are evicted past a byte budget. The
  mechanism, :class:`SharedCache`, also serves other pure work (e.g. encoded pictures).
* **Single-flight**: concurrent identical requests compute once; the others wait for that
  result. If the computing caller fails or is interrupted (a newer interaction of its
  session), the waiters do not inherit its exception: one of them computes instead.
* **Immutable**: callers never get the stored tensors. Every lookup returns its own copy,
  made of inference tensors, so an in-place write raises (``RuntimeError``); the paths
  torch does not guard (``.numpy()``, ``.detach()``, ``.data``) only reach that copy.
  Nothing a page does can change what another session is served.
* **Reused parts**: a miss still reuses the prefix and baseline of its model and image
  (:mod:`.reuse`) from a second bounded store, :func:`shared_inputs`; a slider step on a
  picture seen before runs only its draws.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, fields, replace
from typing import Generic, Literal, TypeVar, cast

import torch
from torch import nn

from .engine import probe
from .result import ProbeResult, SiteRecord
from .reuse import Baseline
from .settings import ProbeSettings

__all__ = [
    "CacheStats",
    "InputStore",
    "Lookup",
    "ProbeCache",
    "ProbeKey",
    "SharedCache",
    "cached_probe",
    "image_digest",
    "probe_key",
    "result_nbytes",
    "shared_cache",
    "shared_inputs",
]

Source = Literal["computed", "hit", "joined"]
Progress = Callable[[int, int], None]
K = TypeVar("K")
V = TypeVar("V")
_DEFAULT_MB = 256
# ResNet-50 at 224 x 224: a prefix is 0.8-3.2 MB, a baseline 4 KB; 64 MB keeps every part a
# class uses of a dozen pictures.
_DEFAULT_INPUTS_MB = 64
_DEFAULT_ENTRIES = 1024
# How often a waiting caller runs its ``poll`` (a page's way to notice it was superseded).
_POLL_S = 0.1


@dataclass(frozen=True)
class ProbeKey:
    """Everything that decides a probe's result.

    Attributes:
        model: identity of the model object and the versions of its tensors (an in-place
            change of any weight or buffer gives a new key).
        image: hash of the input tensor's shape, dtype and bytes.
        settings: the probe settings (frozen, hashable).
        seed: seed of the draws.
        samples: number of draws.
        target: class every CAM explains (None: the baseline's top-1).
        record: which sites keep masks and activations (``True``: all, a frozenset of names).
    """

    model: tuple[str, int]
    image: str
    settings: ProbeSettings
    seed: int
    samples: int
    target: int | None
    record: bool | frozenset[str]


@dataclass(frozen=True)
class Lookup:
    """A result, how it was obtained (computed here, a cache hit, joined in flight) and its
    key (None when the arguments could not be keyed; ``probe`` then raised or ran)."""

    result: ProbeResult
    source: Source
    key: ProbeKey | None

    @property
    def shared(self) -> bool:
        """True when this caller did not run the pass itself."""
        return self.source != "computed"


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made (or cleared), and what it holds now."""

    hits: int
    joined: int
    computed: int
    evictions: int
    entries: int
    bytes: int
    max_bytes: int

    @property
    def hit_rate(self) -> float:
        """Share of lookups served without a pass of their own (0 when none yet)."""
        total = self.hits + self.joined + self.computed
        return (self.hits + self.joined) / total if total else 0.0


_model_tokens: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
_token_lock = threading.Lock()


def _model_identity(model: nn.Module) -> tuple[str, int]:
    # id() can be reused by a later model; a token held weakly by the object cannot.
    with _token_lock:
        token = _model_tokens.get(model)
        if token is None:
            token = _model_tokens[model] = uuid.uuid4().hex
    return token, _version_sum(model)


def _version_sum(model: nn.Module) -> int:
    """Sum of the version counters of every parameter and buffer of ``model``.

    Every in-place write (an optimizer step, load_state_dict) bumps a tensor's version, so
    the sum grows with any write. Walks ``_modules`` directly: ``parameters()`` and
    ``buffers()`` build a dotted name for every tensor, 4x the cost (1.2 against 0.3 ms
    for ResNet-50, paid by every cache lookup). A tensor shared by two modules counts
    twice, which changes nothing: a write still raises the sum.
    """
    total, stack, seen = 0, [model], set()
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        total += sum(t._version for t in module._parameters.values() if t is not None)
        total += sum(t._version for t in module._buffers.values() if t is not None)
        stack.extend(m for m in module._modules.values() if m is not None)
    return total


def image_digest(x: torch.Tensor) -> str:
    """Hash of ``x``'s shape, dtype and values: the image part of a :class:`ProbeKey`.

    A caller that probes one unchanging input many times computes it once and passes it
    as ``image=`` (hashing a 224 x 224 picture is ~1 ms, and each torch call in it waits
    for the GIL on a busy server).
    """
    data = x.detach().cpu().contiguous()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{tuple(data.shape)}|{data.dtype}".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def probe_key(
    model: nn.Module,
    x: torch.Tensor,
    settings: ProbeSettings,
    *,
    seed: int = 0,
    samples: int = 1,
    target: int | None = None,
    record: bool | Collection[str] = True,
    image: str | None = None,
) -> ProbeKey:
    """The cache key of ``probe(model, x, settings, ...)`` with these arguments.

    ``image`` is ``image_digest(x)`` if the caller has it (``x`` unchanged since);
    a wrong value makes lookups return another input's result.
    """
    if not isinstance(record, bool):
        record = frozenset(record)
    return ProbeKey(
        model=_model_identity(model),
        image=image_digest(x) if image is None else image,
        settings=settings,
        seed=seed,
        samples=samples,
        target=target,
        record=record,
    )


def _tensors(result: ProbeResult) -> list[torch.Tensor]:
    found = [getattr(result, f.name) for f in fields(result)]
    for site in result.sites:
        found += [getattr(site, f.name) for f in fields(site)]
    return [t for t in found if isinstance(t, torch.Tensor)]


def result_nbytes(result: ProbeResult) -> int:
    """Bytes of the tensor storage ``result`` holds (a storage shared by views counts once)."""
    storages = {}
    for t in _tensors(result):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def _clone(t: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return t.clone()


def _copy_tensor(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else _clone(t)


def _copy_site(site: SiteRecord) -> SiteRecord:
    return replace(
        site,
        keep_mask=_copy_tensor(site.keep_mask),
        before=_copy_tensor(site.before),
        after=_copy_tensor(site.after),
    )


def _copy(result: ProbeResult) -> ProbeResult:
    """A deep copy made of inference tensors (in-place writes to them raise)."""
    return replace(
        result,
        baseline_logits=_clone(result.baseline_logits),
        logits=_clone(result.logits),
        cam_baseline=_clone(result.cam_baseline),
        cams=_clone(result.cams),
        sites=tuple(_copy_site(s) for s in result.sites),
    )


class _Flight(Generic[V]):
    """A computation in progress: waiters block on ``done``; ``ok`` says it gave a value."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: V | None = None


class SharedCache(Generic[K, V]):
    """Least-recently-used values within a byte budget, with single-flight.

    Args:
        max_bytes: budget for the stored values, as ``sizeof`` measures them; a value larger
            than the whole budget is returned but not stored. 0 stores nothing (identical
            concurrent requests still compute once).
        max_entries: at most this many values, whatever their size.
        sizeof: bytes a value holds.
        copy: what a caller gets instead of the stored value, and what is stored of the
            computing caller's value. The default hands out the stored object itself: right
            for immutable values such as ``bytes``, and only for them.
    """

    def __init__(
        self,
        max_bytes: int,
        *,
        sizeof: Callable[[V], int],
        copy: Callable[[V], V] = lambda v: v,
        max_entries: int = _DEFAULT_ENTRIES,
    ) -> None:
        if max_bytes < 0 or max_entries < 0:
            raise ValueError(
                f"max_bytes and max_entries must be >= 0, got {max_bytes}, {max_entries}"
            )
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._sizeof = sizeof
        self._copy = copy
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._flights: dict[K, _Flight[V]] = {}
        self._bytes = 0
        self._counts = {"hits": 0, "joined": 0, "computed": 0, "evictions": 0}

    def get_or_compute(
        self,
        key: K,
        compute: Callable[[], V],
        *,
        poll: Callable[[], None] | None = None,
    ) -> tuple[V, Source]:
        """The value for ``key`` and how it was obtained: stored, joined, or computed here.

        ``poll`` runs every 0.1 s while this caller waits for another's computation; raise
        in it to stop waiting. An exception from ``compute`` reaches this caller only;
        callers waiting for it retry (one of them computes).
        """
        while True:
            with self._lock:
                stored = self._entries.get(key)  # (value, size): a stored None is a value
                if stored is not None:
                    self._entries.move_to_end(key)
                    self._counts["hits"] += 1
                else:
                    found = self._flights.get(key)
                    leader = found is None
                    flight = self._flights[key] = _Flight() if found is None else found
            if stored is not None:
                return self._copy(stored[0]), "hit"  # copied outside the lock: hits overlap
            if leader:
                return self._lead(key, flight, compute), "computed"
            while not flight.done.wait(_POLL_S):
                if poll is not None:
                    poll()
            if flight.ok:
                with self._lock:
                    self._counts["joined"] += 1
                return self._copy(cast(V, flight.value)), "joined"
            # The computation we waited for failed: go round (stored, in flight, or ours).

    def _lead(self, key: K, flight: _Flight[V], compute: Callable[[], V]) -> V:
        try:
            # Stored and handed out as copies: the caller may write into `compute()`'s value,
            # and it gets the same kind of value as every other caller.
            private = self._copy(compute())
            value = self._copy(private)
        except BaseException:
            # BaseException too: Streamlit stops a superseded run with one.
            with self._lock:
                del self._flights[key]
            flight.done.set()
            raise
        with self._lock:
            self._store(key, private)
            del self._flights[key]
            self._counts["computed"] += 1
        flight.value, flight.ok = private, True
        flight.done.set()
        return value

    def _store(self, key: K, value: V) -> None:
        size = self._sizeof(value)
        if size > self.max_bytes or self.max_entries == 0:
            return
        self._entries[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
            _, (_, freed) = self._entries.popitem(last=False)
            self._bytes -= freed
            self._counts["evictions"] += 1

    def in_flight(self) -> int:
        """Number of computations running now."""
        with self._lock:
            return len(self._flights)

    def stats(self) -> CacheStats:
        """Counters and current size."""
        with self._lock:
            return CacheStats(
                **self._counts,
                entries=len(self._entries),
                bytes=self._bytes,
                max_bytes=self.max_bytes,
            )

    def clear(self) -> None:
        """Drop every stored value and reset the counters (computations in flight finish)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._counts = dict.fromkeys(self._counts, 0)


class ProbeCache(SharedCache[ProbeKey, ProbeResult]):
    """A :class:`SharedCache` of probe results: sized by :func:`result_nbytes`, and every
    caller gets its own copy made of inference tensors."""

    def __init__(self, max_bytes: int, max_entries: int = _DEFAULT_ENTRIES) -> None:
        super().__init__(max_bytes, sizeof=result_nbytes, copy=_copy, max_entries=max_entries)

    def lookup(
        self,
        key: ProbeKey,
        compute: Callable[[], ProbeResult],
        *,
        poll: Callable[[], None] | None = None,
    ) -> Lookup:
        """:meth:`get_or_compute` as a :class:`Lookup` that carries ``key``."""
        result, source = self.get_or_compute(key, compute, poll=poll)
        return Lookup(result, source, key)


def _part_nbytes(value: torch.Tensor | Baseline) -> int:
    if isinstance(value, Baseline):
        return value.logits.nbytes + value.cam.nbytes
    return value.nbytes


class InputStore:
    """Prefixes and baselines (:mod:`.reuse`) of many (model, image) pairs, least recently
    used evicted past ``max_bytes``; concurrent probes of one input compute each once.

    Stored values are inference tensors (an in-place write raises) and go to the engine
    only, which reads them.
    """

    def __init__(self, max_bytes: int) -> None:
        self._parts: SharedCache[tuple[object, ...], torch.Tensor | Baseline] = SharedCache(
            max_bytes, sizeof=_part_nbytes
        )

    def reuse(self, model: tuple[str, int], image: str) -> _InputParts:
        """The :class:`~.reuse.Reuse` of one input: ``model`` and ``image`` as in
        :class:`ProbeKey`."""
        return _InputParts(self._parts, (model, image))

    def stats(self) -> CacheStats:
        """Counters and current size."""
        return self._parts.stats()

    def clear(self) -> None:
        """Drop every stored part and reset the counters."""
        self._parts.clear()


@dataclass(frozen=True)
class _InputParts:
    parts: SharedCache[tuple[object, ...], torch.Tensor | Baseline]
    input: tuple[object, ...]

    def prefix(self, stop: int, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        value, _ = self.parts.get_or_compute((*self.input, "prefix", stop), compute)
        return cast(torch.Tensor, value)

    def baseline(
        self, cam_layer: str, target: int | None, compute: Callable[[], Baseline]
    ) -> Baseline:
        value, _ = self.parts.get_or_compute((*self.input, "baseline", cam_layer, target), compute)
        return cast(Baseline, value)


_shared: ProbeCache | None = None
_shared_lock = threading.Lock()


def _budget_bytes(env: str, default_mb: float) -> int:
    """Bytes of the budget that env ``env`` sets in MiB (``default_mb`` when unset)."""
    raw = os.environ.get(env, "").strip()
    try:
        mb = float(raw) if raw else default_mb
    except ValueError:
        raise ValueError(f"env {env} must be a number of MiB, got {raw!r}") from None
    if mb < 0:
        raise ValueError(f"env {env} must be >= 0, got {raw!r}")
    return int(mb * 2**20)


def shared_cache() -> ProbeCache:
    """The process-wide cache; its budget is env ``DROPLAB_PROBE_CACHE_MB`` (default 256)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ProbeCache(max_bytes=_budget_bytes("DROPLAB_PROBE_CACHE_MB", _DEFAULT_MB))
        return _shared


_inputs: InputStore | None = None


def shared_inputs() -> InputStore:
    """The process-wide :class:`InputStore`; its budget is env ``DROPLAB_INPUT_CACHE_MB``
    (default 64)."""
    global _inputs
    with _shared_lock:
        if _inputs is None:
            budget = _budget_bytes("DROPLAB_INPUT_CACHE_MB", _DEFAULT_INPUTS_MB)
            _inputs = InputStore(max_bytes=budget)
        return _inputs


def cached_probe(
    model: nn.Module,
    x: torch.Tensor,
    settings: ProbeSettings,
    *,
    seed: int = 0,
    samples: int = 1,
    target: int | None = None,
    record: bool | Collection[str] = True,
    progress: Progress | None = None,
    poll: Callable[[], None] | None = None,
    cache: ProbeCache | None = None,
    image: str | None = None,
    inputs: InputStore | None = None,
) -> Lookup:
    """:func:`~.engine.probe` through ``cache`` (default: :func:`shared_cache`), reusing
    the prefix and baseline of this model and image from ``inputs`` (default:
    :func:`shared_inputs`).

    ``progress`` is called only if this caller runs the pass; ``poll`` while it waits for
    an identical pass of another caller; ``image`` as in :func:`probe_key`. Arguments are
    validated by ``probe`` itself.
    """
    if not isinstance(settings, ProbeSettings) or not isinstance(x, torch.Tensor):
        # Unhashable or unkeyable: let probe() raise its own clear ValueError.
        return Lookup(
            probe(
                model,
                x,
                settings,
                seed=seed,
                samples=samples,
                target=target,
                progress=progress,
                record=record,
            ),
            "computed",
            None,
        )
    key = probe_key(
        model, x, settings, seed=seed, samples=samples, target=target, record=record, image=image
    )
    parts = (inputs if inputs is not None else shared_inputs()).reuse(key.model, key.image)
    return (cache if cache is not None else shared_cache()).lookup(
        key,
        lambda: probe(
            model,
            x,
            settings,
            seed=seed,
            samples=samples,
            target=target,
            progress=progress,
            record=record,
            reuse=parts,
        ),
        poll=poll,
    )
