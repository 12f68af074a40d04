"""Load test: many DropLab sessions drive the Playground on a real server.

Each session is what a browser tab is to the server: a websocket on ``/_stcore/stream``
speaking Streamlit's protobuf protocol. It opens the Playground with its link, then
changes controls one at a time, as a student does, waiting for each rerun to finish; it
also fetches the images the page shows, as a browser would. No browser runs, so the two
shared cores measure the server, not Chromium.

Scenarios (``--scenarios``):

* ``class`` (a): K students follow the lesson (the default link, the lesson's few
  settings, out of phase) with a mean think time of 15 s (exponential); K grows through
  ``--class-k`` until p95 reaches 2 s: the largest K that met it.
* ``burst`` (b): ``--burst`` students (100) click the *Paper setting* preset within
  ``--burst-window`` seconds (2) of each other.
* ``explore`` (c): like (a), but every student has their own seed and random
  keep_prob/block_size values: distinct settings, so the shared cache cannot help.
* ``class_train``: (a) while a training run is active: a lesson run trains in a niced
  worker process, as the Train page starts it, for the whole scenario.
* ``closed``: K sessions with distinct settings and no think time (the earlier table).
* ``soak``: ``--soak`` interactions in one session; memory along the way.

Every phase reports p50/p95 of the interaction latency (change sent -> script finished),
errors (exceptions on the page, failed runs, timeouts, failed image fetches), isolation
violations (a page showing another seed or a setting the session did not choose, or a
final page that differs from a solo replay of its link), server CPU per interaction and
its ratio to the probe pass's own CPU (measured first, in this process; and again with
the settings the phase's passes ran, which can cost more than the default), the cache hit
rate and the passes computed (a page says "shared result" when it ran none), and the
server's memory. The server's CPU is also split by thread over the phase itself
(:func:`split_server_cpu`): passes, event loop, script runs. Its ratio "x in place" does
not move when the machine's speed does between the yardstick and the phase, as the
others can (a 2-vCPU VM was seen to halve and double its speed within minutes).

    python bench/load_test.py                                   # class, burst, explore
    python bench/load_test.py --scenarios closed --sessions 1 8
    python bench/load_test.py --scenarios class --class-k 2 --interactions 2 --think 1

Everything is bounded: per-run timeout, a global deadline, and the server it starts is
stopped at the end. Traffic goes to 127.0.0.1 only. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil  # type: ignore[import-untyped]
import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from typing_extensions import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import training_in_background, write_json  # noqa: E402  (after sys.path)
from dropcore.train.presets import SIZES  # noqa: E402
from pages.ui.probing import SHARED_MARK  # noqa: E402
from tests.e2e.conftest import free_port, stop_server  # noqa: E402

FINISHED_FULL = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
FINISHED_FRAGMENT = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
# A run that ended well: the whole script, or only the fragment a widget belongs to.
FINISHED_OK = frozenset({FINISHED_FULL, FINISHED_FRAGMENT})
FINISHED_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
WIDGET_KINDS = {
    "slider",
    "number_input",
    "checkbox",
    "selectbox",
    "radio",
    "button_group",
    "multiselect",
    "button",
}
# Text that legitimately differs between two runs of the same link (wall-clock timings);
# everything else on the page must be identical for the isolation check.
TIMING = re.compile(r"\d+(?:[.,]\d+)?\s*(?:ms|s|sec|seconds)\b")


class ProtocolError(RuntimeError):
    """The server closed the session or did not finish a run in time."""


@dataclass
class Run:
    """What one script run put on the page, as the browser would have it."""

    latency_s: float
    status: int
    elements: dict[tuple[int, ...], tuple[str, Any]]
    progress: list[str]
    # delta path -> id of the fragment that drew the element ("" outside any fragment)
    owners: dict[tuple[int, ...], str] = field(default_factory=dict)
    # delta paths this run (re)drew: what the browser had to render again
    drawn: frozenset[tuple[int, ...]] = frozenset()

    @property
    def ok(self) -> bool:
        """The run ended well (a full run, or a fragment rerun)."""
        return self.status in FINISHED_OK

    def of_kind(self, *kinds: str) -> Iterator[Any]:
        """Element protos of the given kinds, in page order."""
        for path in sorted(self.elements):
            kind, proto = self.elements[path]
            if kind in kinds:
                yield proto

    @property
    def exceptions(self) -> list[str]:
        """``Type: message`` of every exception element on the page."""
        return [f"{e.type}: {e.message}" for e in self.of_kind("exception")]

    def alerts(self, fmt: int | None = None) -> list[str]:
        """Bodies of st.error/warning/info/success boxes (``fmt``: an Alert.Format)."""
        return [a.body for a in self.of_kind("alert") if fmt is None or a.format == fmt]

    def texts(self) -> list[str]:
        """Every visible text of the page, in page order."""
        out: list[str] = []
        for path in sorted(self.elements):
            kind, p = self.elements[path]
            if kind in ("markdown", "text", "heading", "alert", "html"):  # html: tables
                out.append(p.body)
            elif kind == "metric":
                out.append(f"{p.label}={p.body} ({p.delta})")
            elif kind == "code":
                out.append(p.code_text)
            elif kind == "exception":
                out.append(f"{p.type}: {p.message}")
        return out

    def fingerprint(self) -> tuple[str, ...]:
        """The page's texts with wall-clock timings blanked (equal for equal links)."""
        return tuple(TIMING.sub("<t>", t) for t in self.texts())

    def redrew(self, widget_id: str) -> bool:
        """Whether this run drew the widget ``widget_id`` again."""
        return any(
            kind in WIDGET_KINDS and proto.id == widget_id and path in self.drawn
            for path, (kind, proto) in self.elements.items()
        )

    def fragment_of(self, widget_id: str) -> str:
        """Id of the fragment that drew the widget ``widget_id`` ("" for none)."""
        for path, (kind, proto) in self.elements.items():
            if kind in WIDGET_KINDS and proto.id == widget_id:
                return self.owners.get(path, "")
        return ""

    def widgets(self, bound: bool = True) -> dict[str, tuple[str, Any]]:
        """URL parameter -> (element kind, proto) of every URL-bound widget (``bound``
        False: element id -> the same, for every widget)."""
        found: dict[str, tuple[str, Any]] = {}
        for path in sorted(self.elements):
            kind, proto = self.elements[path]
            if kind not in WIDGET_KINDS:
                continue
            if not bound:
                found[proto.id] = (kind, proto)
            elif getattr(proto, "query_param_key", ""):
                found[proto.query_param_key] = (kind, proto)
        return found

    def image_urls(self) -> list[str]:
        """Relative URLs of the images on the page."""
        return [img.url for lst in self.of_kind("imgs") for img in lst.imgs]


def widget_state(kind: str, proto: Any, value: Any) -> WidgetState:
    """The WidgetState the frontend sends when a person sets this widget to ``value``."""
    ws = WidgetState(id=proto.id)
    if kind == "slider":
        ws.double_array_value.data.append(float(value))
    elif kind == "number_input":
        if proto.data_type == NumberInput.INT:
            ws.int_value = int(value)
        else:
            ws.double_value = float(value)
    elif kind == "checkbox":
        ws.bool_value = str(value).lower() in ("true", "1", "on")
    elif kind in ("selectbox", "radio"):
        ws.string_value = str(value)
    elif kind in ("button_group", "multiselect"):
        values = value if isinstance(value, (list, tuple)) else [value]
        ws.string_array_value.data.extend(str(v) for v in values)
    elif kind == "button":
        ws.trigger_value = True
    else:
        raise ValueError(f"cannot set a {kind} widget")
    return ws


def with_param(query: str, key: str, value: Any) -> str:
    """``query`` with ``key`` set to ``value`` (a list or tuple: the key once per item)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != key]
    text = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return urllib.parse.urlencode(kept + [(key, t) for t in text])


class Session:
    """One browser-equivalent session of the app over Streamlit's websocket protocol."""

    def __init__(self, base_url: str, page: str, query: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.page = page
        self.query = query
        self.timeout = timeout
        self.ws: websocket.WebSocket | None = None
        self.last: Run | None = None
        # The page the server last ran. The browser names it by hash in every later rerun;
        # naming it by ``page`` again would rerun the link's alias (a forward) first.
        self.page_hash = ""
        self.loaded_images: set[str] = set()

    def open(self) -> Run:
        """Connect and run the page for this session's link (the page load)."""
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = websocket.create_connection(
            ws_url,
            subprotocols=["streamlit"],
            timeout=self.timeout,
            origin=self.base_url,
        )
        return self._run(WidgetStates())

    def set(self, **params: Any) -> Run:
        """Change URL-bound controls (by URL parameter name) and wait for the rerun.

        As the browser does, a change of widgets that one fragment drew reruns only that
        fragment; anything else reruns the whole script."""
        if self.last is None:
            raise ProtocolError("open() the session first")
        widgets = self.last.widgets()
        states = WidgetStates()
        for key, value in params.items():
            if key not in widgets:
                raise ProtocolError(f"no widget bound to {key!r}; have {sorted(widgets)}")
            states.widgets.append(widget_state(*widgets[key], value))
            # The browser writes a bound widget's new value into its address bar itself,
            # and sends that address with the rerun (the server may not redraw the widget).
            self.query = with_param(self.query, key, value)
        fragments = {self.last.fragment_of(w.id) for w in states.widgets}
        return self._run(states, fragments.pop() if len(fragments) == 1 else "")

    def click_preset(self, name: str) -> Run:
        """Click the lesson preset ``name`` (a pills widget keyed ``preset``, not in the URL)."""
        if self.last is None:
            raise ProtocolError("open() the session first")
        found = [
            (kind, proto)
            for kind, proto in self.last.widgets(bound=False).values()
            if proto.id.endswith("-preset")
        ]
        if not found:
            raise ProtocolError("no lesson presets on the page")
        states = WidgetStates()
        states.widgets.append(widget_state(*found[0], name))
        return self._run(states, self.last.fragment_of(found[0][1].id))

    def idle(self, seconds: float) -> None:
        """Think time: keep reading for ``seconds`` as a browser tab does, which answers the
        server's websocket pings (Streamlit pings every 30 s and closes a connection whose
        pong is 30 s late; a client that merely slept lost its connection in long pauses)."""
        assert self.ws is not None
        end = time.perf_counter() + seconds
        while (remaining := end - time.perf_counter()) > 0:
            self.ws.settimeout(remaining)
            try:
                # Answers a ping with a pong, and returns on it (plain recv() would go on
                # reading with the old timeout and, pinged every 30 s, never time out).
                opcode, data = self.ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                return
            except (websocket.WebSocketException, OSError) as err:
                raise ProtocolError(f"websocket closed while idle: {err}") from err
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise ProtocolError("websocket closed by the server while idle")
            if opcode == websocket.ABNF.OPCODE_BINARY:
                fwd = ForwardMsg()
                fwd.ParseFromString(data)
                if fwd.WhichOneof("type") == "page_info_changed":
                    self.query = fwd.page_info_changed.query_string

    def send_rerun(self, states: WidgetStates, fragment_id: str = "") -> float:
        """Send a rerun request (of ``fragment_id`` only, if given) without waiting;
        returns the send time."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        if self.page_hash:
            msg.rerun_script.page_script_hash = self.page_hash
        else:
            msg.rerun_script.page_name = self.page
        msg.rerun_script.widget_states.CopyFrom(states)
        msg.rerun_script.fragment_id = fragment_id
        assert self.ws is not None
        t0 = time.perf_counter()
        self.ws.send_binary(msg.SerializeToString())
        return t0

    def _run(self, states: WidgetStates, fragment_id: str = "") -> Run:
        return self.wait(self.send_rerun(states, fragment_id))

    def _next(self, deadline: float) -> ForwardMsg:
        """The next message from the server; ProtocolError on timeout or close."""
        assert self.ws is not None
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ProtocolError(f"nothing finished within {self.timeout:.0f} s")
            self.ws.settimeout(remaining)
            try:
                data = self.ws.recv()
            except (websocket.WebSocketException, OSError) as err:
                raise ProtocolError(f"websocket closed: {err}") from err
            if isinstance(data, bytes):
                fwd = ForwardMsg()
                fwd.ParseFromString(data)
                if fwd.WhichOneof("type") == "page_info_changed":
                    # The browser's address bar follows the app; the next rerun sends it.
                    self.query = fwd.page_info_changed.query_string
                elif fwd.WhichOneof("type") == "navigation":
                    # The page that ran (new_session names the main script instead).
                    self.page_hash = fwd.navigation.page_script_hash
                return fwd

    def wait(self, t0: float) -> Run:
        """Read messages until a run finishes for good (not superseded); returns it.

        As in the browser, a run replaces what it redraws, and when it finishes for good
        it drops what it did not redraw of the parts it ran: everything after a full
        run, the elements of its fragments (and of fragments nested in them) after a
        fragment rerun. ``progress`` also holds progress texts of runs it superseded."""
        before = self.last
        elements = dict(before.elements) if before else {}
        owners = dict(before.owners) if before else {}
        progress: list[str] = []
        drawn: set[tuple[int, ...]] = set()
        ran: set[str] = set()
        full = False
        while True:
            fwd = self._next(t0 + self.timeout)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                # A superseded run's elements stay until the run that follows drops them.
                drawn, ran = set(), set(fwd.metadata.run.fragment_ids)
                full = not ran
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "add_block":
                # A block replaces whatever stood at its place (an st.empty() it fills,
                # whose delta reaches the browser first when the queue is sent between).
                path = tuple(fwd.metadata.delta_path)
                elements.pop(path, None)
                owners.pop(path, None)
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                el_kind = el.WhichOneof("type") or "unknown"
                path = tuple(fwd.metadata.delta_path)
                elements[path] = (el_kind, getattr(el, el_kind, None))
                owners[path] = fwd.delta.fragment_id
                drawn.add(path)
                ran.add(fwd.delta.fragment_id)
                if el_kind == "progress":
                    progress.append(el.progress.text)
            elif kind == "script_finished":
                if fwd.script_finished == FINISHED_RERUN:
                    continue  # interrupted by a newer rerun, which follows
                for path in [
                    p for p in elements if p not in drawn and (full or owners.get(p, "") in ran)
                ]:
                    elements.pop(path)
                    owners.pop(path, None)
                run = Run(
                    latency_s=time.perf_counter() - t0,
                    status=fwd.script_finished,
                    elements=elements,
                    progress=progress,
                    owners=owners,
                    drawn=frozenset(drawn),
                )
                self.last = run
                return run

    def wait_for_progress(self) -> str:
        """Read until the running script updates a progress bar; returns the bar's text."""
        deadline = time.perf_counter() + self.timeout
        while True:
            fwd = self._next(deadline)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.new_element.WhichOneof("type") == "progress":
                return fwd.delta.new_element.progress.text
            if kind == "script_finished" and fwd.script_finished != FINISHED_RERUN:
                raise ProtocolError("the run finished without showing progress")

    def fetch_images(self, run: Run) -> int:
        """GET the images of ``run`` as a browser would; returns how many failed.

        Like a browser tab, only images this session has not loaded yet: an image whose
        URL (a hash of its bytes) a rerun sends again is not requested again."""
        failed = 0
        for url in run.image_urls():
            full = url if url.startswith("http") else self.base_url + "/" + url.lstrip("/")
            if not full.startswith(self.base_url) or full in self.loaded_images:
                continue  # data: URLs and external links are not the server's work
            self.loaded_images.add(full)
            try:
                with urllib.request.urlopen(full, timeout=self.timeout) as resp:
                    resp.read()
                    failed += resp.status != 200
            except OSError:
                failed += 1
        return failed

    def close(self) -> None:
        """Close the websocket (the server keeps the session for its TTL)."""
        if self.ws is not None:
            self.ws.close()
            self.ws = None


# ---------------------------------------------------------------- the Playground

PAGE = ""  # the Playground is the default page: its URL path is the root
SEED_KEY = "seed"
# The control changes of a class that follows the lesson: few distinct settings, which
# sessions revisit out of phase. Values are what the links carry (formatted values).
STEPS: tuple[tuple[str, Any], ...] = (
    ("keep", 0.8),
    ("block", 5),
    ("keep", 0.9),
    ("block", 7),
)
PRESET = "Paper setting"

# The status line every Playground run shows: "... · seed 1000 · pass **0.41 s** on CPU
# (shared result) · masks fingerprint `...`".
STATUS_SEED = re.compile(r"· seed (\d+) ·")
STATUS_PASS = re.compile(r"pass \*\*(\d+(?:\.\d+)?) s\*\*")
STATUS_MARK = "masks fingerprint"
# The settings a pass ran with, from the same line (the parts the scenarios change).
STATUS_SETTINGS = re.compile(
    r"keep_prob (?P<keep>[\d.]+) · block (?P<block>\d+) · γ (?P<gamma>\w+) · "
    r"(?P<seeding>\w+) seeds .*· seed (?P<seed>\d+) ·"
)
SHARED = re.compile(rf"\s*\({re.escape(SHARED_MARK)}\)")


def session_query(index: int, base_seed: int) -> str:
    """The link of session ``index``: its own seed, so every session's masks differ."""
    return urllib.parse.urlencode({SEED_KEY: base_seed + index})


def status_line(run: Run) -> str:
    """The Playground's status line ('' if the run shows none)."""
    return next((t for t in run.texts() if STATUS_MARK in t), "")


def is_shared(run: Run) -> bool:
    """True if the page's result came from the shared cache (no pass of its own)."""
    return SHARED_MARK in status_line(run)


def page_fingerprint(run: Run) -> tuple[str, ...]:
    """The page's texts, timings and the shared-result mark blanked (equal for equal links)."""
    return tuple(SHARED.sub("", t) for t in run.fingerprint())


def expected_problems(run: Run, seed: int, bits: Sequence[str]) -> list[str]:
    """Why the page is not this session's: another seed, or a setting it did not choose."""
    shown = {int(m) for t in run.texts() for m in STATUS_SEED.findall(t)}
    problems = [] if shown == {seed} else [f"expected seed {seed}, page shows {sorted(shown)}"]
    line = status_line(run)
    problems += [
        f"expected '{b}' in the status line: {line[:160]!r}" for b in bits if b not in line
    ]
    return problems


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Plan:
    """What one session does: the link it opens, then one control change per interaction.

    ``expect`` gives the status-line fragments the page must show after each change (the
    isolation check: this session's setting and seed, nobody else's).
    """

    query: dict[str, Any]
    seed: int
    changes: list[dict[str, Any]]
    expect: list[list[str]]


def _summary_bits(state: Mapping[str, Any]) -> list[str]:
    return [f"keep_prob {float(state['keep']):.4g}", f"block {int(state['block'])}"]


def class_plan(index: int, interactions: int, rng: random.Random) -> Plan:
    """(a) A class following the lesson: the default link (seed 0) and the lesson's few
    settings, visited out of phase, so identical requests recur as in a real class."""
    steps = itertools.islice(itertools.cycle(STEPS), index, None)
    state: dict[str, Any] = {"keep": 0.9, "block": 7}
    changes, expect = [], []
    for _ in range(interactions):
        key, value = next(steps)
        state[key] = value
        changes.append({key: value})
        expect.append(_summary_bits(state))
    return Plan({}, 0, changes, expect)


def explore_plan(index: int, interactions: int, rng: random.Random) -> Plan:
    """(c) Free exploration: each session its own seed and its own random keep_prob and
    block_size values, so (almost) no two requests are alike and every one is a pass."""
    seed = 5000 + index
    state: dict[str, Any] = {"keep": 0.9, "block": 7}
    changes, expect = [], []
    for i in range(interactions):
        key = "keep" if i % 2 == 0 else "block"
        value = state[key]
        while value == state[key]:  # a real change: the same value would rerun a hit
            value = round(rng.uniform(0.5, 0.99), 2) if key == "keep" else rng.randint(1, 9)
        state[key] = value
        changes.append({key: value})
        expect.append(_summary_bits(state))
    return Plan({SEED_KEY: seed}, seed, changes, expect)


@dataclass
class SessionReport:
    """What one session saw during a phase."""

    seed: int
    load_s: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    shared: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)
    final_query: str = ""
    fingerprint: tuple[str, ...] = ()
    probe_s: list[float] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    # (keep, block, gamma, seeding, seed) of each interaction that ran a pass of its own
    passes: list[tuple[float, int, str, str, int]] = field(default_factory=list)


def _check(run: Run, report: SessionReport, sess: Session, bits: Sequence[str]) -> None:
    if not run.ok:
        report.errors.append(f"run finished with status {run.status}")
    report.errors.extend(f"exception on page: {e}" for e in run.exceptions)
    failed = sess.fetch_images(run)
    if failed:
        report.errors.append(f"{failed} image fetch(es) failed")
    report.isolation.extend(expected_problems(run, report.seed, bits))


def _record(run: Run, report: SessionReport) -> None:
    report.latencies.append(run.latency_s)
    report.shared.append(is_shared(run))
    found = STATUS_SETTINGS.search(status_line(run))
    if found and not report.shared[-1]:
        report.passes.append(
            (
                float(found["keep"]),
                int(found["block"]),
                found["gamma"],
                found["seeding"],
                int(found["seed"]),
            )
        )
    report.probe_s.extend(float(m) for m in STATUS_PASS.findall(status_line(run)))
    report.summaries.append(
        TIMING.sub("<t>", SHARED.sub("", status_line(run))).split(" · masks")[0]
    )


def _open(base_url: str, plan: Plan, report: SessionReport, timeout: float) -> Session:
    sess = Session(base_url, PAGE, urllib.parse.urlencode(plan.query), timeout)
    run = sess.open()
    report.load_s = run.latency_s
    _check(run, report, sess, [])
    return sess


def _finish(sess: Session, params: Mapping[str, Any], report: SessionReport) -> None:
    if sess.last is not None:
        # The link a student would share now: the same page must come back from it.
        report.final_query = urllib.parse.urlencode(params)
        report.fingerprint = page_fingerprint(sess.last)


def _await_start(sess: Session | None, start: threading.Barrier, timeout: float) -> None:
    """``start.wait()``, while the open session stays responsive (see :meth:`Session.idle`):
    with 100 sessions the first to connect wait a minute or more for the last."""
    failure: list[BaseException] = []
    passed = threading.Event()

    def waiter() -> None:
        try:
            start.wait(timeout=timeout)
        except threading.BrokenBarrierError as err:
            failure.append(err)
        finally:
            passed.set()

    threading.Thread(target=waiter, daemon=True).start()
    while not passed.is_set():
        if sess is None or sess.ws is None:
            passed.wait()
        else:
            sess.idle(0.2)
    if failure:
        raise failure[0]


def _lifecycle(
    base_url: str,
    plan: Plan,
    timeout: float,
    start: threading.Barrier,
    body: Callable[[Session, SessionReport], None],
) -> SessionReport:
    """Open the session on ``plan``'s link, wait for everyone, run ``body``, close; any
    protocol failure becomes an error of the report."""
    report = SessionReport(seed=plan.seed)
    sess: Session | None = None
    try:
        try:
            sess = _open(base_url, plan, report, timeout)
        finally:
            _await_start(sess, start, timeout)  # everyone connected: the phase starts
        body(sess, report)
    except (ProtocolError, threading.BrokenBarrierError, OSError) as err:
        report.errors.append(f"{type(err).__name__}: {err}")
    finally:
        if sess is not None:
            sess.close()
    return report


def drive(
    base_url: str,
    plan: Plan,
    think_s: float,
    rng: random.Random,
    timeout: float,
    start: threading.Barrier,
    deadline: float,
) -> SessionReport:
    """One session: open its link, then make its changes with a think time between them.

    Think times are exponential with mean ``think_s`` (independent students), and the
    first change comes after a uniform delay, so arrivals are spread like a real class.
    """

    def body(sess: Session, report: SessionReport) -> None:
        params = dict(plan.query)
        if think_s:
            sess.idle(rng.uniform(0, think_s))
        for change, bits in zip(plan.changes, plan.expect, strict=True):
            if time.monotonic() > deadline:
                report.errors.append("global deadline reached")
                break
            run = sess.set(**change)
            params.update(change)
            _record(run, report)
            _check(run, report, sess, bits)
            if think_s:
                sess.idle(rng.expovariate(1.0 / think_s))
        _finish(sess, params, report)

    return _lifecycle(base_url, plan, timeout, start, body)


def burst_drive(
    base_url: str,
    window_s: float,
    rng: random.Random,
    timeout: float,
    start: threading.Barrier,
    deadline: float,
) -> SessionReport:
    """(b) One student of a burst: open the default link, then click the lesson preset at
    a random moment within ``window_s`` of the teacher saying so."""

    def body(sess: Session, report: SessionReport) -> None:
        sess.idle(rng.uniform(0, window_s))
        if time.monotonic() > deadline:
            raise ProtocolError("global deadline reached")
        run = sess.click_preset(PRESET)
        _record(run, report)
        _check(run, report, sess, ["γ paper", "valid seeds", "keep_prob 0.9", "block 7"])
        _finish(sess, {"gamma": "paper", "seeding": "valid"}, report)

    return _lifecycle(base_url, Plan({}, 0, [], []), timeout, start, body)


def replay(base_url: str, query: str, timeout: float) -> tuple[str, ...]:
    """The page's fingerprint for ``query`` in a fresh session, alone on the server."""
    sess = Session(base_url, PAGE, query, timeout)
    try:
        return page_fingerprint(sess.open())
    finally:
        sess.close()


# ---------------------------------------------------------------- measurement plumbing


class MemorySampler:
    """Samples a process's resident memory in a background thread."""

    def __init__(self, pid: int, period: float = 0.25) -> None:
        self.proc = psutil.Process(pid)
        self.period = period
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.proc.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.period)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def rss_mb(self) -> float:
        """Current resident memory in MiB."""
        return self.proc.memory_info().rss / 2**20


def _cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds the process has used so far."""
    t = proc.cpu_times()
    return t.user + t.system


def _thread_cpu(proc: psutil.Process) -> dict[int, float]:
    """User + system CPU seconds of each live thread of ``proc``, by thread id."""
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def split_server_cpu(
    before: Mapping[int, float], after: Mapping[int, float], main: int, total: float
) -> dict[str, float]:
    """``total`` CPU seconds of the server between two :func:`_thread_cpu` snapshots,
    split by the kind of thread that spent it.

    The event loop is the main thread. Probe passes run on the engine's long-lived compute
    threads (and their torch worker threads): every other thread alive at both ends.
    Streamlit starts a thread for each script run, so what dead or new threads spent,
    ``total`` minus the others, is the pages' own work. Measured over the same seconds as
    ``total``, the split holds however fast the machine happens to be just then, unlike
    a yardstick measured before and after.
    """
    lasting = before.keys() & after.keys()
    loop = after.get(main, 0.0) - before.get(main, 0.0) if main in lasting else 0.0
    passes = sum(after[t] - before[t] for t in lasting if t != main)
    return {"event_loop": loop, "passes": passes, "script_runs": total - loop - passes}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Yardstick:
    """CPU seconds of one Playground probe pass (default setting, one recorded site), run
    in this process on the idle machine: the yardstick for server CPU per interaction.

    Measured as the server runs it after a picture's first view: the prefix and baseline
    come from a warm :class:`~dropcore.probe.InputStore`, and each pass is a new seed.
    This VM's speed drifts by up to 2x within minutes, so every phase divides by the mean
    of the yardsticks measured just before and just after it, and reports both.
    """

    def __init__(self, model: str) -> None:
        import models
        from dropcore.probe import InputStore, ProbeSettings, probe_key, site_names
        from models.images import sample_image

        self._loaded = models.load(model, "random")
        self._x = self._loaded.transform(sample_image("cat"))
        self._settings = ProbeSettings(p=0.1, block_size=7, stages=("layer3", "layer4"))
        self._record = {site_names(self._loaded.model, self._settings)[0]}
        key = probe_key(self._loaded.model, self._x, self._settings)
        self._reuse = InputStore(max_bytes=2**30).reuse(key.model, key.image)
        self._seed = 0
        self._held = False
        self.last = self.measure()

    def measure(self, repeats: int = 5) -> float:
        """A new measurement (median of ``repeats`` passes after two warm-up passes)."""
        from dropcore.probe import probe

        times = []
        for _ in range(repeats + 2):
            self._seed += 1
            t0 = time.process_time()
            probe(
                self._loaded.model,
                self._x,
                self._settings,
                seed=self._seed,
                record=self._record,
                reuse=self._reuse,
            )
            times.append(time.process_time() - t0)
        self.last = statistics.median(times[2:])
        return self.last

    def relative(
        self, passes: Sequence[tuple[float, int, str, str, int]], sample: int = 12
    ) -> float:
        """CPU of the passes a phase ran (up to ``sample`` of them) over the yardstick's,
        measured alternately now: the phase's own pass CPU is this times the bracket.

        The scenarios' settings do not cost what the default does (a dense DropBlock draw
        at keep_prob ~0.5 costs ~1.5x), so dividing by the default pass alone would count
        that as work outside the pass. NaN when the phase ran no pass of its own.
        """
        from dropcore import drop_probability
        from dropcore.probe import ProbeSettings, probe, site_names

        if not passes:
            return float("nan")
        chosen = random.Random(len(passes)).sample(list(passes), min(sample, len(passes)))
        own, ref = 0.0, 0.0
        for keep, block, gamma, seeding, seed in chosen:
            # ProbeSettings checks both names (a status line we cannot read would raise).
            settings = ProbeSettings(
                p=drop_probability(keep),
                block_size=block,
                gamma=cast(Any, gamma),
                seeding=cast(Any, seeding),
                stages=self._settings.stages,
            )
            record = {site_names(self._loaded.model, settings)[0]}  # as the page does
            t0 = time.process_time()
            probe(
                self._loaded.model, self._x, settings, seed=seed, record=record, reuse=self._reuse
            )
            t1 = time.process_time()
            self._seed += 1
            probe(
                self._loaded.model,
                self._x,
                self._settings,
                seed=self._seed,
                record=self._record,
                reuse=self._reuse,
            )
            own, ref = own + t1 - t0, ref + time.process_time() - t1
        return own / ref

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Measure nothing new meanwhile (the machine is not idle: a training run)."""
        self._held = True
        try:
            yield
        finally:
            self._held = False

    def bracket(self) -> dict[str, float]:
        """The yardstick around a phase that just ended: the one before it, one measured
        now (unless held), and their mean (what the phase's ratio divides by)."""
        before = self.last
        after = before if self._held else self.measure()
        return {
            "probe_cpu_before_s": before,
            "probe_cpu_after_s": after,
            "probe_cpu_s": (before + after) / 2,
        }


def run_phase(
    server_pid: int,
    reports: list[SessionReport],
    workers: list[threading.Thread],
    start: threading.Barrier,
    timeout: float,
    deadline: float,
) -> dict[str, Any]:
    """Run the sessions' threads; server CPU, memory and wall time of the measured part."""
    with MemorySampler(server_pid) as mem:
        rss_before = mem.rss_mb()
        for t in workers:
            t.start()
        try:
            start.wait(timeout=timeout + 30)
        except threading.BrokenBarrierError:
            pass
        # Server CPU over the measured part: what the capacity arithmetic divides by.
        cpu0 = _cpu_seconds(mem.proc)
        threads0 = _thread_cpu(mem.proc)
        client0 = _cpu_seconds(psutil.Process())
        t0 = time.perf_counter()
        for t in workers:
            t.join(timeout=max(1.0, deadline - time.monotonic()))
        wall = time.perf_counter() - t0
        cpu = _cpu_seconds(mem.proc) - cpu0
        split = split_server_cpu(threads0, _thread_cpu(mem.proc), server_pid, cpu)
        client_cpu = _cpu_seconds(psutil.Process()) - client0
        rss_after = mem.rss_mb()
        threads = mem.proc.num_threads()
    n = sum(len(r.latencies) for r in reports)
    return {
        "wall_s": wall,
        "server_cpu_s_per_interaction": cpu / n if n else float("nan"),
        "server_cpu_utilisation": cpu / wall if wall > 0 else float("nan"),
        **{
            f"server_{k}_cpu_s_per_interaction": v / n if n else float("nan")
            for k, v in split.items()
        },
        "client_cpu_s_per_interaction": client_cpu / n if n else float("nan"),
        "server_threads": threads,
        "rss_before_mb": rss_before,
        "rss_peak_mb": max(mem.samples, default=0) / 2**20,
        "rss_after_mb": rss_after,
    }


def summarise(
    reports: Sequence[SessionReport],
    measured: Mapping[str, Any],
    base_url: str,
    timeout: float,
    replays: int,
    yard: Yardstick,
) -> dict[str, Any]:
    """The figures every scenario reports, from its sessions' reports."""
    bracket = yard.bracket()  # before the solo replays below load the server again
    relative = yard.relative([x for r in reports for x in r.passes])
    latencies = [x for r in reports for x in r.latencies]
    shared = [x for r in reports for x in r.shared]
    errors = [e for r in reports for e in r.errors]
    isolation = [e for r in reports for e in r.isolation]
    # Numbers: a session's final page must equal a fresh solo run of its final link.
    for r in [r for r in reports if r.final_query and r.fingerprint][:replays]:
        solo = replay(base_url, r.final_query, timeout)
        if solo != r.fingerprint:
            diff = (
                next((a, b) for a, b in zip(r.fingerprint, solo, strict=True) if a != b)
                if len(solo) == len(r.fingerprint)
                else (len(r.fingerprint), len(solo))
            )
            isolation.append(f"seed {r.seed}: page differs from solo replay: {diff}")
    cpu = measured["server_cpu_s_per_interaction"]
    return {
        "sessions": len(reports),
        "interactions": len(latencies),
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies, default=float("nan")),
        "page_load_p50_s": percentile([r.load_s for r in reports], 0.50),
        "throughput_per_s": (
            len(latencies) / measured["wall_s"] if measured["wall_s"] > 0 else float("nan")
        ),
        "errors": len(errors),
        "error_samples": errors[:5],
        "isolation_violations": len(isolation),
        "isolation_samples": isolation[:5],
        "cache_hit_rate": sum(shared) / len(shared) if shared else float("nan"),
        "passes_computed": len(shared) - sum(shared),
        "distinct_settings": len({s for r in reports for s in r.summaries}),
        "probe_p50_s": percentile([x for r in reports for x in r.probe_s], 0.50),
        **bracket,
        "cpu_per_interaction_over_probe_cpu": cpu / bracket["probe_cpu_s"],
        # Against the CPU of the passes this phase ran (their settings, not the default).
        "own_pass_over_probe_cpu": relative,
        "cpu_per_interaction_over_own_pass_cpu": cpu / (bracket["probe_cpu_s"] * relative),
        **measured,
        # All the server's CPU over what its passes used, in the same seconds
        # (split_server_cpu): when every interaction computes, its CPU over its pass's;
        # with shared results mixed in, an upper bound on that for the computed ones.
        "cpu_over_in_place_pass_cpu": (
            cpu / measured["server_passes_cpu_s_per_interaction"]
            if measured["server_passes_cpu_s_per_interaction"] > 0
            else float("nan")
        ),
        # Other work on the machine skews every figure above; this says how much.
        "loadavg_1min_after": os.getloadavg()[0],
    }


def _against_passes(row: Mapping[str, Any]) -> str:
    """The row's CPU against the passes it ran, measured after and in place."""
    split = (
        f"loop {row['server_event_loop_cpu_s_per_interaction'] * 1000:.0f} ms, runs "
        f"{row['server_script_runs_cpu_s_per_interaction'] * 1000:.0f} ms"
    )
    if not row["passes_computed"]:
        return f"no pass of its own: {split}"
    if 2 * row["passes_computed"] < row["interactions"]:
        # Mostly shared: a ratio to the few passes says nothing about one interaction.
        return f"{row['passes_computed']} passes of its own: {split}"
    return (
        f"{row['cpu_per_interaction_over_own_pass_cpu']:.2f}x own passes, "
        f"{row['own_pass_over_probe_cpu']:.2f}x probe; "
        f"{row['cpu_over_in_place_pass_cpu']:.2f}x in place: {split}"
    )


def _print(name: str, row: Mapping[str, Any]) -> None:
    print(
        f"{name:>10s} K={row['sessions']:3d} n={row['interactions']:4d}  "
        f"p50={row['p50_s']:.2f}s p95={row['p95_s']:.2f}s  "
        f"cpu/int={row['server_cpu_s_per_interaction']:.2f}s "
        f"({row['cpu_per_interaction_over_probe_cpu']:.2f}x probe "
        f"{row['probe_cpu_before_s']:.3f}->{row['probe_cpu_after_s']:.3f}; "
        f"{_against_passes(row)})  "
        f"hits={row['cache_hit_rate']:.0%} passes={row['passes_computed']} "
        f"(distinct {row['distinct_settings']})  errors={row['errors']} "
        f"isolation={row['isolation_violations']}  rss {row['rss_before_mb']:.0f}->"
        f"{row['rss_peak_mb']:.0f}->{row['rss_after_mb']:.0f} MiB",
        flush=True,
    )


_session_numbers = itertools.count()


def think_phase(
    base_url: str,
    server_pid: int,
    k: int,
    plan_of: Any,
    interactions: int,
    think_s: float,
    args: argparse.Namespace,
    deadline: float,
    yard: Yardstick,
) -> dict[str, Any]:
    """K sessions following ``plan_of(index, interactions, rng)`` with think time."""
    start = threading.Barrier(k + 1)
    # Session numbers are unique over the whole run, so no phase replays another's links.
    first = next(_session_numbers)
    for _ in range(k - 1):
        next(_session_numbers)
    rngs = [random.Random(args.rng_seed * 100_003 + first + i) for i in range(k)]
    plans = [plan_of(first + i, interactions, rngs[i]) for i in range(k)]
    reports = [SessionReport(seed=p.seed) for p in plans]

    def worker(i: int) -> None:
        reports[i] = drive(base_url, plans[i], think_s, rngs[i], args.timeout, start, deadline)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(k)]
    measured = run_phase(server_pid, reports, workers, start, args.timeout, deadline)
    return summarise(reports, measured, base_url, args.timeout, args.replays, yard)


def burst_phase(
    base_url: str,
    server_pid: int,
    k: int,
    args: argparse.Namespace,
    deadline: float,
    yard: Yardstick,
) -> dict[str, Any]:
    """(b) K sessions click the same preset within ``args.burst_window`` seconds."""
    start = threading.Barrier(k + 1)
    reports = [SessionReport(seed=0) for _ in range(k)]

    def worker(i: int) -> None:
        reports[i] = burst_drive(
            base_url,
            args.burst_window,
            random.Random(args.rng_seed * 7919 + i),
            args.timeout,
            start,
            deadline,
        )

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(k)]
    measured = run_phase(server_pid, reports, workers, start, args.timeout, deadline)
    return summarise(reports, measured, base_url, args.timeout, args.replays, yard)


def soak(
    base_url: str,
    server_pid: int,
    n: int,
    timeout: float,
    deadline: float,
    seed: int,
) -> dict[str, Any]:
    """``n`` interactions in one session; server memory after every interaction."""
    proc = psutil.Process(server_pid)
    sess = Session(base_url, PAGE, urllib.parse.urlencode({SEED_KEY: seed}), timeout)
    rss: list[float] = []
    errors: list[str] = []
    steps = itertools.cycle(STEPS)
    try:
        sess.open()
        for _ in range(n):
            if time.monotonic() > deadline:
                errors.append("global deadline reached")
                break
            key, value = next(steps)
            run = sess.set(**{key: value})
            if not run.ok or run.exceptions:
                errors.append(f"status {run.status}, {run.exceptions[:1]}")
            rss.append(proc.memory_info().rss / 2**20)
            if len(rss) % 50 == 0:
                print(f"  soak {len(rss)}/{n}: rss {rss[-1]:.0f} MiB", flush=True)
    except ProtocolError as err:
        errors.append(str(err))
    finally:
        sess.close()
    warm = rss[len(rss) // 5 :]  # the first fifth fills caches and allocator pools
    slope = _slope(warm) * 100 if len(warm) > 2 else float("nan")
    marks = {i + 1: round(rss[i], 1) for i in range(len(rss)) if (i + 1) % 50 == 0}
    return {
        "interactions": len(rss),
        "rss_first_mb": rss[0] if rss else float("nan"),
        "rss_last_mb": rss[-1] if rss else float("nan"),
        "rss_max_mb": max(rss, default=float("nan")),
        "slope_mb_per_100_after_warmup": slope,
        "rss_every_50": marks,
        "threads_after": proc.num_threads(),
        "errors": len(errors),
        "error_samples": errors[:5],
    }


def _slope(ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` against their index."""
    n = len(ys)
    mx = (n - 1) / 2
    my = statistics.fmean(ys)
    num = sum((i - mx) * (y - my) for i, y in enumerate(ys))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


# ---------------------------------------------------------------- server lifecycle


def start_server(env: Mapping[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``scripts/serve.sh`` (the production start command) on 127.0.0.1:``port``."""
    full_env = {**os.environ, **env, "PORT": str(port), "DROPLAB_ADDRESS": "127.0.0.1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "serve.sh")],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server not healthy after 180 s; see {log}")


def k_search(
    name: str,
    plan_of: Any,
    base_url: str,
    pid: int,
    args: argparse.Namespace,
    ks: Sequence[int],
    interactions: int,
    think_s: float,
    deadline: float,
    yard: Yardstick,
) -> dict[str, Any]:
    """Phases at growing K until p95 reaches the target; the largest K that met it."""
    rows, largest = [], None
    for k in ks:
        if time.monotonic() > deadline:
            break
        row = think_phase(base_url, pid, k, plan_of, interactions, think_s, args, deadline, yard)
        rows.append(row)
        _print(name, row)
        ok = row["p95_s"] < args.p95_target and not row["errors"]
        if not ok:
            break
        largest = k
    return {
        "think_s": think_s,
        "p95_target_s": args.p95_target,
        "largest_k": largest,
        "phases": rows,
    }


@contextlib.contextmanager
def _server(
    args: argparse.Namespace,
    ap: argparse.ArgumentParser,
    tmp: Path,
    name: str,
) -> Iterator[tuple[str, int]]:
    """``(base_url, pid)`` of the server under test: ``--url``'s, else a fresh one that is
    stopped afterwards. Its first session (the model load) is not measured."""
    if args.url:
        if args.server_pid is None:
            ap.error("--url needs --server-pid (memory is measured on the server)")
        base_url, pid, proc = args.url.rstrip("/"), args.server_pid, None
    else:
        port = free_port()
        env = {
            "DROPLAB_MODEL": args.model,
            "DROPLAB_WEIGHTS": "random",
            "TORCH_HOME": str(tmp / "torch-home"),
            "PYTHONUNBUFFERED": "1",
        }
        proc = start_server(env, port, tmp / f"server-{name}.log")
        base_url, pid = f"http://127.0.0.1:{port}", proc.pid
    try:
        replay(base_url, session_query(0, 10_000), args.timeout)
        yield base_url, pid
    finally:
        if proc is not None:
            stop_server(proc)


def run_scenario(
    name: str,
    base_url: str,
    pid: int,
    args: argparse.Namespace,
    deadline: float,
    yard: Yardstick,
) -> Any:
    """One scenario's phases against the server; prints a line per phase."""
    if name in ("class", "class_train", "explore"):
        plan_of, ks = (
            (explore_plan, args.explore_k) if name == "explore" else (class_plan, args.class_k)
        )
        training = (
            training_in_background(**SIZES["lesson"])
            if name == "class_train"
            else contextlib.nullcontext()
        )
        with training, yard.held() if name == "class_train" else contextlib.nullcontext():
            return k_search(
                name,
                plan_of,
                base_url,
                pid,
                args,
                ks,
                args.interactions,
                args.think,
                deadline,
                yard,
            )
    if name == "burst":
        row = burst_phase(base_url, pid, args.burst, args, deadline, yard)
        _print(name, row)
        return row
    if name == "closed":
        rows = []
        for k in args.sessions:
            rows.append(
                think_phase(
                    base_url, pid, k, explore_plan, args.interactions, 0.0, args, deadline, yard
                )
            )
            _print(name, rows[-1])
        return rows
    s = soak(base_url, pid, args.soak, args.timeout, deadline, 1000)
    print(
        f"      soak {s['interactions']} interactions, rss {s['rss_first_mb']:.0f} -> "
        f"{s['rss_last_mb']:.0f} MiB (max {s['rss_max_mb']:.0f}), "
        f"{s['slope_mb_per_100_after_warmup']:+.2f} MiB/100 after warm-up, "
        f"errors={s['errors']}",
        flush=True,
    )
    return s


def main() -> int:
    """Run the chosen scenarios; print one line per phase and write bench/results/load_test.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="use a running server (give --server-pid for memory)")
    ap.add_argument("--server-pid", type=int)
    ap.add_argument(
        "--scenarios",
        nargs="+",
        default=["class", "class_train", "burst", "explore"],
        choices=["class", "class_train", "burst", "explore", "closed", "soak"],
    )
    ap.add_argument(
        "--class-k",
        type=int,
        nargs="+",
        default=[10, 20, 40, 60, 80],
        help="(a) and (c): sessions per phase, tried in order until p95 fails",
    )
    ap.add_argument("--explore-k", type=int, nargs="+", default=[5, 10, 20, 40])
    ap.add_argument("--interactions", type=int, default=6, help="per session and phase")
    ap.add_argument(
        "--think",
        type=float,
        default=15.0,
        help="(a), (c): mean seconds between a student's changes",
    )
    ap.add_argument("--p95-target", type=float, default=2.0)
    ap.add_argument("--burst", type=int, default=100, help="(b): sessions in the burst")
    ap.add_argument("--burst-window", type=float, default=2.0, help="(b): seconds")
    ap.add_argument(
        "--sessions",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="closed: K sessions, no think time, distinct settings",
    )
    ap.add_argument("--soak", type=int, default=500, help="soak: interactions")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--timeout", type=float, default=180.0, help="per run")
    ap.add_argument("--deadline", type=float, default=3600.0, help="whole run, seconds")
    ap.add_argument("--replays", type=int, default=4, help="sessions replayed solo per phase")
    ap.add_argument("--rng-seed", type=int, default=0, help="think times and explored values")
    args = ap.parse_args()
    deadline = time.monotonic() + args.deadline

    print("measuring the probe pass's own CPU (idle machine)...", flush=True)
    yard = Yardstick(args.model)
    print(f"probe pass: {yard.last:.3f} CPU-s (measured again after every phase)", flush=True)
    results: dict[str, Any] = {
        "model": args.model,
        "cpus": os.cpu_count(),
        "probe_cpu_s_at_start": yard.last,
        "torch_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "args": vars(args),
    }
    with tempfile.TemporaryDirectory(prefix="droplab-load-") as tmp:
        for name in args.scenarios:
            if time.monotonic() > deadline:
                break
            # A fresh server per scenario: its shared cache must not be warm from the last.
            with _server(args, ap, Path(tmp), name) as (base_url, pid):
                results[name] = run_scenario(name, base_url, pid, args, deadline, yard)
    for name in ("class", "class_train", "explore"):
        if name in results:
            print(f"{name}: largest K at p95 < {args.p95_target:g} s: {results[name]['largest_k']}")
    path = write_json("load_test", results)
    print(f"wrote {path}")
    rows = [
        *results.get("closed", []),
        *([results["burst"]] if "burst" in results else []),
        *(
            r
            for n in ("class", "class_train", "explore")
            if n in results
            for r in results[n]["phases"]
        ),
    ]
    bad = sum(r["errors"] + r["isolation_violations"] for r in rows)
    return 1 if bad or results.get("soak", {}).get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(main())
