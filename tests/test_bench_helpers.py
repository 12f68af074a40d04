"""Helpers of the benchmarks whose arithmetic a wrong figure would hide."""

from __future__ import annotations

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.load_test import FINISHED_FULL, Session, _against_passes, split_server_cpu


def test_server_cpu_is_split_by_the_threads_that_spent_it() -> None:
    main, compute, torch_worker, ended, started = 100, 101, 102, 103, 104
    before = {main: 5.0, compute: 10.0, torch_worker: 7.0, ended: 1.0}
    after = {main: 5.5, compute: 12.0, torch_worker: 8.25, started: 0.25}
    split = split_server_cpu(before, after, main, total=4.5)
    # Passes: the threads alive at both ends but the event loop's.
    assert split["passes"] == pytest.approx(2.0 + 1.25)
    assert split["event_loop"] == pytest.approx(0.5)
    # The rest was spent by threads of single script runs, ended or new.
    assert split["script_runs"] == pytest.approx(4.5 - 0.5 - 3.25)


def test_a_main_thread_missing_from_a_snapshot_counts_nothing_for_the_loop() -> None:
    split = split_server_cpu({1: 2.0}, {1: 3.0}, main=7, total=1.5)
    assert split == pytest.approx({"event_loop": 0.0, "passes": 1.0, "script_runs": 0.5})


def test_a_phase_without_or_with_few_passes_prints_no_ratio_to_them() -> None:
    row = {
        "server_event_loop_cpu_s_per_interaction": 0.012,
        "server_script_runs_cpu_s_per_interaction": 0.03,
        "passes_computed": 0,
        "interactions": 10,
        "cpu_per_interaction_over_own_pass_cpu": float("nan"),
        "own_pass_over_probe_cpu": float("nan"),
        "cpu_over_in_place_pass_cpu": float("nan"),
    }
    assert _against_passes(row) == "no pass of its own: loop 12 ms, runs 30 ms"
    ran = {
        **row,
        "passes_computed": 5,
        "cpu_per_interaction_over_own_pass_cpu": 1.25,
        "own_pass_over_probe_cpu": 1.1,
        "cpu_over_in_place_pass_cpu": 1.3,
    }
    assert _against_passes(ran) == (
        "1.25x own passes, 1.10x probe; 1.30x in place: loop 12 ms, runs 30 ms"
    )
    # A class mostly served from the cache: no ratio to its few passes.
    assert _against_passes({**ran, "passes_computed": 4}) == (
        "4 passes of its own: loop 12 ms, runs 30 ms"
    )


def test_versus_summaries_and_their_ratios() -> None:
    from bench.bench_ui_versus import Change, ratios, summarize

    def change(latency: float, task: float, server: float) -> Change:
        return Change("seed +1", latency, latency / 2, task, task / 2, 10.0, server)

    before = summarize(
        [change(0.4, 200.0, 100.0), change(0.2, 100.0, 80.0), change(0.3, 150.0, 90.0)]
    )
    after = summarize([change(0.1, 90.0, 90.0), change(0.3, 150.0, 90.0)])
    assert before["median_latency_s"] == pytest.approx(0.3)  # a median, not a mean
    assert before["task_ms_per_change"] == pytest.approx(150.0)  # a mean: the total work
    assert after["median_latency_s"] == pytest.approx(0.2)
    r = ratios(before, after)
    assert r["task_ms_per_change"] == pytest.approx(120.0 / 150.0)
    assert r["server_cpu_ms_per_change"] == pytest.approx(1.0)
    assert r["style_layout_ms_per_change"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one change"):
        summarize([])


def _delta(path: tuple[int, ...], block: bool = False, text: str = "") -> ForwardMsg:
    fwd = ForwardMsg()
    fwd.metadata.delta_path.extend(path)
    if block:
        fwd.delta.add_block.vertical.SetInParent()
    else:
        fwd.delta.new_element.markdown.body = text
    return fwd


def test_a_block_replaces_the_element_that_stood_at_its_place() -> None:
    """st.empty() then its container: when the server's queue is sent between the two,
    the browser gets both, and the block takes the empty's place; the page model must
    not keep the empty as an element of its own (a slow machine saw it do so)."""
    started, finished = ForwardMsg(), ForwardMsg()
    started.new_session.SetInParent()
    finished.script_finished = FINISHED_FULL
    script = [
        started,
        _delta((0, 1), text="placeholder"),
        _delta((0, 1), block=True),
        _delta((0, 1, 0), text="inside"),
        _delta((0, 2), text="after"),
        finished,
    ]
    sess = Session("http://127.0.0.1:1", "", "")
    messages = iter(script)
    sess._next = lambda deadline: next(messages)  # type: ignore[method-assign]
    run = sess.wait(0.0)
    assert sorted(run.elements) == [(0, 1, 0), (0, 2)]
    assert [p.body for p in run.of_kind("markdown")] == ["inside", "after"]
