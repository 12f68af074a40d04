"""Load test: K concurrent DropLab sessions drive the Playground on a real server.

Each session is what a browser tab is to the server: a websocket on ``/_stcore/stream``
speaking Streamlit's protobuf protocol. It opens the Playground with its own link (its own
seed), then changes controls one at a time, as a student does, waiting for each rerun to
finish before the next change; it also fetches the images the page shows, as a browser
would. No browser runs, so the two shared cores measure the server, not Chromium.

Reported per K: p50/p95 of the interaction latency (change sent -> script finished),
errors (exceptions on the page, failed runs, timeouts, failed image fetches), isolation
violations (a session seeing another session's seed, or numbers that differ from a solo
replay of its final link), and the server's resident memory. ``--soak N`` then runs N
interactions in one session and reports memory along the way (leaks of hooks or tensors
show up as steady growth).

    python bench/load_test.py                         # K = 1, 8, 32 and a 500-step soak
    python bench/load_test.py --sessions 1 8 --interactions 5 --soak 0

Everything is bounded: per-run timeout, a global deadline, and the server it starts is
stopped at the end. Traffic goes to 127.0.0.1 only. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from typing_extensions import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import write_json  # after the sys.path fix
from tests.e2e.conftest import free_port, stop_server

FINISHED_OK = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
FINISHED_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
WIDGET_KINDS = {
    "slider", "number_input", "checkbox", "selectbox", "radio", "button_group",
    "multiselect", "button",
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
            if kind in ("markdown", "text", "heading", "alert"):
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

    def widgets(self) -> dict[str, tuple[str, Any]]:
        """URL parameter -> (element kind, proto) of every URL-bound widget."""
        found: dict[str, tuple[str, Any]] = {}
        for path in sorted(self.elements):
            kind, proto = self.elements[path]
            if kind in WIDGET_KINDS and getattr(proto, "query_param_key", ""):
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


class Session:
    """One browser-equivalent session of the app over Streamlit's websocket protocol."""

    def __init__(self, base_url: str, page: str, query: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.page = page
        self.query = query
        self.timeout = timeout
        self.ws: websocket.WebSocket | None = None
        self.last: Run | None = None

    def open(self) -> Run:
        """Connect and run the page for this session's link (the page load)."""
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = websocket.create_connection(
            ws_url, subprotocols=["streamlit"], timeout=self.timeout,
            origin=self.base_url,
        )
        return self._run(WidgetStates())

    def set(self, **params: Any) -> Run:
        """Change URL-bound controls (by URL parameter name) and wait for the rerun."""
        if self.last is None:
            raise ProtocolError("open() the session first")
        widgets = self.last.widgets()
        states = WidgetStates()
        for key, value in params.items():
            if key not in widgets:
                raise ProtocolError(f"no widget bound to {key!r}; have {sorted(widgets)}")
            states.widgets.append(widget_state(*widgets[key], value))
        return self._run(states)

    def send_rerun(self, states: WidgetStates) -> float:
        """Send a rerun request without waiting (returns the send time)."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = self.page
        msg.rerun_script.widget_states.CopyFrom(states)
        assert self.ws is not None
        t0 = time.perf_counter()
        self.ws.send_binary(msg.SerializeToString())
        return t0

    def _run(self, states: WidgetStates) -> Run:
        return self.wait(self.send_rerun(states))

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
                return fwd

    def wait(self, t0: float) -> Run:
        """Read messages until a run finishes for good (not superseded); returns it.

        ``progress`` of the result also holds progress texts of runs it superseded."""
        elements: dict[tuple[int, ...], tuple[str, Any]] = {}
        progress: list[str] = []
        while True:
            fwd = self._next(t0 + self.timeout)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                elements = {}  # a new run redraws the page
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                el_kind = el.WhichOneof("type")
                elements[tuple(fwd.metadata.delta_path)] = (el_kind, getattr(el, el_kind))
                if el_kind == "progress":
                    progress.append(el.progress.text)
            elif kind == "script_finished":
                if fwd.script_finished == FINISHED_RERUN:
                    continue  # interrupted by a newer rerun, which follows
                run = Run(
                    latency_s=time.perf_counter() - t0,
                    status=fwd.script_finished,
                    elements=elements,
                    progress=progress,
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
        """GET every image of ``run`` as a browser would; returns how many failed."""
        failed = 0
        for url in run.image_urls():
            full = url if url.startswith("http") else self.base_url + "/" + url.lstrip("/")
            if not full.startswith(self.base_url):
                continue  # data: URLs or external links are not the server's work
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


# ---------------------------------------------------------------- the Playground scenario

PAGE = ""  # the Playground is the default page: its URL path is the root
SEED_KEY = "seed"
# One interaction = one control change, cycling through these. Values are what the links
# carry (the widgets' formatted values).
STEPS: tuple[tuple[str, Any], ...] = (
    ("keep", 0.8), ("block", 5), ("keep", 0.9), ("block", 7),
)


def session_query(index: int, base_seed: int) -> str:
    """The link of session ``index``: its own seed, so every session's masks differ."""
    return urllib.parse.urlencode({SEED_KEY: base_seed + index})


# The status line every Playground run shows: "... · seed 1000 · pass 0.41 s ...".
STATUS_SEED = re.compile(r"· seed (\d+) ·")
# ... and the probe's own wall time: "· pass **0.41 s** on CPU ·".
STATUS_PASS = re.compile(r"pass \*\*(\d+(?:\.\d+)?) s\*\*")


def own_seed_only(run: Run, seed: int) -> bool:
    """True if the page shows this session's seed, and no other."""
    shown = {int(m) for t in run.texts() for m in STATUS_SEED.findall(t)}
    return shown == {seed}


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


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class SessionReport:
    """What one session saw during a phase."""

    seed: int
    load_s: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)
    final_query: str = ""
    fingerprint: tuple[str, ...] = ()
    progress_updates: int = 0
    probe_s: list[float] = field(default_factory=list)


def drive(
    base_url: str, seed: int, index: int, interactions: int, think_s: float,
    timeout: float, start: threading.Barrier, deadline: float,
) -> SessionReport:
    """One session: load the page, then ``interactions`` control changes."""
    report = SessionReport(seed=seed)
    params: dict[str, Any] = {SEED_KEY: seed}
    sess = Session(base_url, PAGE, urllib.parse.urlencode(params), timeout)
    steps = itertools.islice(itertools.cycle(STEPS), index, None)  # sessions out of phase
    try:
        try:
            run = sess.open()
            report.load_s = run.latency_s
            _check(run, report, sess)
        finally:
            start.wait(timeout=timeout)  # everyone connected: the measured phase starts
        for _ in range(interactions):
            if time.monotonic() > deadline:
                report.errors.append("global deadline reached")
                break
            key, value = next(steps)
            run = sess.set(**{key: value})
            params[key] = value
            report.latencies.append(run.latency_s)
            report.probe_s.extend(
                float(m) for t in run.texts() for m in STATUS_PASS.findall(t)
            )
            _check(run, report, sess)
            if think_s:
                time.sleep(think_s)
        if sess.last is not None:
            # The link a student would share now: the same page must come back from it.
            report.final_query = urllib.parse.urlencode(params)
            report.fingerprint = sess.last.fingerprint()
    except (ProtocolError, threading.BrokenBarrierError, OSError) as err:
        report.errors.append(f"{type(err).__name__}: {err}")
    finally:
        sess.close()
    return report


def _check(run: Run, report: SessionReport, sess: Session) -> None:
    if run.status != FINISHED_OK:
        report.errors.append(f"run finished with status {run.status}")
    report.errors.extend(f"exception on page: {e}" for e in run.exceptions)
    failed = sess.fetch_images(run)
    if failed:
        report.errors.append(f"{failed} image fetch(es) failed")
    report.progress_updates += len(run.progress)
    if not own_seed_only(run, report.seed):
        shown = sorted({m for t in run.texts() for m in STATUS_SEED.findall(t)})
        report.isolation.append(f"session with seed {report.seed} shows seed(s) {shown}")


def replay(base_url: str, query: str, timeout: float) -> tuple[str, ...]:
    """The page's fingerprint for ``query`` in a fresh session, alone on the server."""
    sess = Session(base_url, PAGE, query, timeout)
    try:
        return sess.open().fingerprint()
    finally:
        sess.close()


def phase(
    base_url: str, server_pid: int, k: int, interactions: int, think_s: float,
    timeout: float, deadline: float, base_seed: int, replays: int,
) -> dict[str, Any]:
    """K concurrent sessions; returns the phase's figures."""
    start = threading.Barrier(k + 1)
    reports: list[SessionReport] = [SessionReport(seed=base_seed + i) for i in range(k)]

    def worker(i: int) -> None:
        reports[i] = drive(
            base_url, base_seed + i, i, interactions, think_s, timeout, start, deadline
        )

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(k)]
    with MemorySampler(server_pid) as mem:
        rss_before = mem.rss_mb()
        for t in threads:
            t.start()
        try:
            start.wait(timeout=timeout + 30)
        except threading.BrokenBarrierError:
            pass
        # Server CPU time over the measured phase: the per-interaction cost that the
        # capacity arithmetic in docs/deploy.md divides by.
        cpu0 = _cpu_seconds(mem.proc)
        client0 = _cpu_seconds(psutil.Process())
        t0 = time.perf_counter()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic()))
        wall = time.perf_counter() - t0
        cpu = _cpu_seconds(mem.proc) - cpu0
        client_cpu = _cpu_seconds(psutil.Process()) - client0
        rss_after = mem.rss_mb()
        server_threads = mem.proc.num_threads()
    latencies = [x for r in reports for x in r.latencies]
    probe_s = [x for r in reports for x in r.probe_s]
    errors = [e for r in reports for e in r.errors]
    isolation = [e for r in reports for e in r.isolation]
    # Numbers: a session's final page must equal a fresh solo run of its final link.
    for r in reports[:replays]:
        if r.final_query and r.fingerprint:
            solo = replay(base_url, r.final_query, timeout)
            if solo != r.fingerprint:
                diff = next((a, b) for a, b in zip(r.fingerprint, solo) if a != b) \
                    if len(solo) == len(r.fingerprint) else (len(r.fingerprint), len(solo))
                isolation.append(f"seed {r.seed}: page differs from solo replay: {diff}")
    return {
        "k": k,
        "interactions": len(latencies),
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies, default=float("nan")),
        "page_load_p50_s": percentile([r.load_s for r in reports], 0.50),
        "throughput_per_s": len(latencies) / wall if wall > 0 else float("nan"),
        "server_cpu_s_per_interaction": cpu / len(latencies) if latencies else float("nan"),
        "server_cpu_utilisation": cpu / wall if wall > 0 else float("nan"),
        "server_threads": server_threads,
        # The probe's own time (the model passes, incl. waiting for a compute slot) as
        # the page reports it; the rest of an interaction is Streamlit and rendering.
        "probe_p50_s": percentile(probe_s, 0.50),
        "client_cpu_s_per_interaction": (
            client_cpu / len(latencies) if latencies else float("nan")
        ),
        "errors": len(errors),
        "error_samples": errors[:5],
        "isolation_violations": len(isolation),
        "isolation_samples": isolation[:5],
        "progress_updates": sum(r.progress_updates for r in reports),
        "rss_before_mb": rss_before,
        "rss_peak_mb": max(mem.samples, default=0) / 2**20,
        "rss_after_mb": rss_after,
        "wall_s": wall,
        # Other work on the machine skews every figure above; this says how much.
        "loadavg_1min_after": os.getloadavg()[0],
    }


def soak(
    base_url: str, server_pid: int, n: int, timeout: float, deadline: float, seed: int,
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
            if run.status != FINISHED_OK or run.exceptions:
                errors.append(f"status {run.status}, {run.exceptions[:1]}")
            rss.append(proc.memory_info().rss / 2**20)
            if len(rss) % 50 == 0:
                print(f"  soak {len(rss)}/{n}: rss {rss[-1]:.0f} MiB", flush=True)
    except ProtocolError as err:
        errors.append(str(err))
    finally:
        sess.close()
    warm = rss[len(rss) // 5:]  # the first fifth fills caches and allocator pools
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
            ["bash", str(ROOT / "scripts" / "serve.sh")], env=full_env, stdout=out,
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


def main() -> int:
    """Run the phases and the soak; print a table and write bench/results/load_test.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="use a running server (give --server-pid for memory)")
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--interactions", type=int, default=6, help="per session and phase")
    ap.add_argument("--think", type=float, default=0.0, help="seconds between changes")
    ap.add_argument("--soak", type=int, default=500, help="interactions of the soak (0: none)")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--timeout", type=float, default=180.0, help="per run")
    ap.add_argument("--deadline", type=float, default=2400.0, help="whole run, seconds")
    ap.add_argument("--replays", type=int, default=4, help="sessions replayed solo per phase")
    args = ap.parse_args()
    deadline = time.monotonic() + args.deadline

    proc = None
    with tempfile.TemporaryDirectory(prefix="droplab-load-") as tmp:
        if args.url:
            base_url, pid = args.url.rstrip("/"), args.server_pid
            if pid is None:
                ap.error("--url needs --server-pid (memory is measured on the server)")
        else:
            port = free_port()
            env = {
                "DROPLAB_MODEL": args.model, "DROPLAB_WEIGHTS": "random",
                "TORCH_HOME": str(Path(tmp) / "torch-home"), "PYTHONUNBUFFERED": "1",
            }
            proc = start_server(env, port, Path(tmp) / "server.log")
            base_url, pid = f"http://127.0.0.1:{port}", proc.pid
        try:
            results: dict[str, Any] = {
                "model": args.model, "think_s": args.think, "cpus": os.cpu_count(),
                "torch_threads": os.environ.get("OMP_NUM_THREADS", "default"),
                "phases": [], "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            # Warm-up: the first session loads the model; nobody should be measured on it.
            replay(base_url, session_query(0, 10_000), args.timeout)
            seed = 1000
            for k in args.sessions:
                if time.monotonic() > deadline:
                    break
                row = phase(
                    base_url, pid, k, args.interactions, args.think, args.timeout,
                    deadline, seed, args.replays,
                )
                seed += k
                results["phases"].append(row)
                print(
                    f"K={k:3d}  n={row['interactions']:4d}  p50={row['p50_s']:.2f}s  "
                    f"p95={row['p95_s']:.2f}s  thr={row['throughput_per_s']:.2f}/s  "
                    f"cpu/int={row['server_cpu_s_per_interaction']:.2f}s  "
                    f"probe p50={row['probe_p50_s']:.2f}s  "
                    f"errors={row['errors']}  isolation={row['isolation_violations']}  "
                    f"rss {row['rss_before_mb']:.0f}->{row['rss_peak_mb']:.0f}"
                    f"->{row['rss_after_mb']:.0f} MiB",
                    flush=True,
                )
            if args.soak and time.monotonic() < deadline:
                s = soak(base_url, pid, args.soak, args.timeout, deadline, seed)
                results["soak"] = s
                print(
                    f"soak: {s['interactions']} interactions, rss {s['rss_first_mb']:.0f}"
                    f" -> {s['rss_last_mb']:.0f} MiB (max {s['rss_max_mb']:.0f}), "
                    f"{s['slope_mb_per_100_after_warmup']:+.2f} MiB/100 after warm-up, "
                    f"errors={s['errors']}",
                    flush=True,
                )
        finally:
            if proc is not None:
                stop_server(proc)
    path = write_json("load_test", results)
    print(f"wrote {path}")
    bad = sum(p["errors"] + p["isolation_violations"] for p in results["phases"])
    return 1 if bad or results.get("soak", {}).get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(main())
