"""The Playground's regularizer controls and its results run as two nested fragments: a
light change (keep_prob, block size, seed) reruns only the results, a method or preset
change both, and what the page then shows equals a full run of the same link.

Spoken over Streamlit's websocket protocol (bench/load_test.py), as a browser does: only
the protocol says which part of the script a change reran.
"""

from __future__ import annotations

import re

import psutil
import pytest

from bench.load_test import (
    FINISHED_FRAGMENT,
    FINISHED_FULL,
    Session,
    _thread_cpu,
    page_fingerprint,
    split_server_cpu,
)

pytestmark = pytest.mark.e2e

LINK = "keep=0.85&block=5&seed=31"
FRAME_TEXT = "Playground"  # the title: drawn by the frame, outside the fragment


def _open(base_url: str, query: str) -> Session:
    sess = Session(base_url, "", query, timeout=240)
    first = sess.open()
    assert first.status == FINISHED_FULL and not first.exceptions
    return sess


def test_a_light_change_reruns_only_the_results(streamlit_server: str) -> None:
    sess = _open(streamlit_server, LINK)
    try:
        before = sess.last
        assert before is not None
        run = sess.set(keep=0.8)
        assert run.status == FINISHED_FRAGMENT and not run.exceptions
        # The frame was not redrawn but is still there; the results are new.
        assert FRAME_TEXT in run.texts()
        kept = {p for p, owner in run.owners.items() if not owner}
        assert kept and kept == {p for p, owner in before.owners.items() if not owner}
        assert any("keep_prob 0.8 " in t for t in run.texts())
        widgets = run.widgets()
        # The sidebar's controls are still on the page but were not drawn again; the
        # site picker belongs to the results, which were.
        assert not run.redrew(widgets["keep"][1].id) and not run.redrew(widgets["method"][1].id)
        assert run.redrew(widgets["site"][1].id)
        controls, results = (
            run.fragment_of(widgets["keep"][1].id),
            run.fragment_of(widgets["site"][1].id),
        )
        assert controls and results and controls != results
        assert not run.fragment_of(widgets["image"][1].id)
    finally:
        sess.close()


def test_a_method_change_redraws_the_controls_and_the_results(streamlit_server: str) -> None:
    """Switching the method enables other controls: the sidebar is drawn again."""
    sess = _open(streamlit_server, LINK)
    try:
        sess.set(keep=0.8)
        run = sess.set(method="Dropout")
        assert run.status == FINISHED_FRAGMENT and not run.exceptions
        widgets = run.widgets()
        assert run.redrew(widgets["keep"][1].id) and run.redrew(widgets["site"][1].id)
        assert not run.redrew(widgets["image"][1].id)
        status = next(t for t in run.texts() if "masks fingerprint" in t)
        assert status.startswith("**Dropout · keep_prob 0.8 "), status
        # The DropBlock controls are disabled now, drawn so by this run.
        assert widgets["block"][1].disabled
    finally:
        sess.close()


def test_after_fragment_reruns_the_page_equals_a_fresh_full_run(
    streamlit_server: str,
) -> None:
    """Element for element (texts, with timings blanked and 'shared result' aside), the
    page after two fragment reruns is the page a new visitor gets from the same link."""
    sess = _open(streamlit_server, "keep=0.9&block=3&seed=32")
    try:
        sess.set(keep=0.75)
        last = sess.set(block=7)
        assert last.status == FINISHED_FRAGMENT
        fresh = _open(streamlit_server, "keep=0.75&block=7&seed=32")
        try:
            assert fresh.last is not None
            assert page_fingerprint(last) == page_fingerprint(fresh.last)
            assert sorted(last.elements) == sorted(fresh.last.elements)
        finally:
            fresh.close()
    finally:
        sess.close()


def test_an_image_change_reruns_the_whole_page(streamlit_server: str) -> None:
    sess = _open(streamlit_server, LINK)
    try:
        run = sess.set(image="coffee")
        assert run.status == FINISHED_FULL and not run.exceptions
        # The photos are inline HTML figures (pixel_html), captioned below each.
        captions = [
            c
            for shown in run.of_kind("html")
            for c in re.findall(r"<figcaption[^>]*>([^<]*)</figcaption>", shown.body)
        ]
        assert any(cap.startswith("Input (coffee)") for cap in captions), captions
    finally:
        sess.close()


def test_a_lesson_preset_reruns_only_the_fragment_and_is_applied_in_full(
    streamlit_server: str,
) -> None:
    """A class clicking a preset together costs the server a fragment rerun each; the
    page it shows is the preset's, with the pills cleared for the next click."""
    sess = _open(streamlit_server, LINK)
    try:
        run = sess.click_preset("Stochastic depth")
        assert run.status == FINISHED_FRAGMENT and not run.exceptions
        assert FRAME_TEXT in run.texts()
        status = next(t for t in run.texts() if "masks fingerprint" in t)
        assert "DropPath" in status and "keep_prob 0.8 " in status, status
        pills = [p for _, p in run.widgets(bound=False).values() if p.id.endswith("-preset")]
        # The server tells the browser to clear the pills, so the next click applies again.
        assert len(pills) == 1 and pills[0].set_value and not pills[0].raw_values, pills
        assert run.fragment_of(pills[0].id)
        again = sess.click_preset("Plain dropout")
        assert again.status == FINISHED_FRAGMENT
        assert any("Dropout" in t and "masks fingerprint" in t for t in again.texts())
    finally:
        sess.close()


def test_the_load_tests_cpu_split_finds_passes_and_page_runs_apart(
    streamlit_server: str,
) -> None:
    """bench/load_test.py charges the threads that outlive a phase to the probe passes
    and the rest to the script runs: true only while Streamlit starts a thread for each
    run. If it kept one, page work would count as passes and nothing as script runs."""
    port = streamlit_server.rsplit(":", 1)[1]
    server = next(
        p
        for p in psutil.Process().children(recursive=True)
        if f"--server.port {port}" in " ".join(p.cmdline())
    )
    sess = _open(streamlit_server, "keep=0.9&block=3&seed=33")
    try:
        cpu0, threads0 = sum(server.cpu_times()[:2]), _thread_cpu(server)
        for keep in (0.88, 0.86, 0.84, 0.82, 0.8, 0.78):
            run = sess.set(keep=keep)
            assert run.status == FINISHED_FRAGMENT and "shared result" not in " ".join(run.texts())
        split = split_server_cpu(
            threads0, _thread_cpu(server), server.pid, sum(server.cpu_times()[:2]) - cpu0
        )
    finally:
        sess.close()
    # Thread times tick in 10 ms steps: six runs of page work stay well above that.
    assert split["passes"] > 0.05 and split["script_runs"] > 0.05, split
