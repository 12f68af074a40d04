"""AppTest for every page: defaults, each method, extreme values, bad links, bad uploads.

Runs the real app (app.py with its navigation) on ResNet-18 with random weights.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dropcore.probe import METHODS
from pages.ui.catalog import METHOD_LABELS
from pages.ui.model import shared_model
from pages.ui.presets import PRESETS
from tests.conftest import html_stats, image_captions

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FINGERPRINT = re.compile(r"masks fingerprint `([0-9a-f]{12})`")


@pytest.fixture(autouse=True)
def small_random_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLAB_MODEL", "resnet18")
    monkeypatch.setenv("DROPLAB_WEIGHTS", "random")


def open_page(page: str = "playground", **query: str | list[str]) -> AppTest:
    """Run the app on ``page`` as if its URL (with ``query``) had been opened."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    if page != "playground":
        # Before the first run a page is found by its file name, which equals its URL path.
        at.switch_page(f"pages/{page}.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    """No exception element and no error message on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def fingerprint(at: AppTest) -> str:
    match = FINGERPRINT.search(texts(at.caption))
    assert match, texts(at.caption)
    return match.group(1)


def metric(at: AppTest, label: str) -> str:
    """The number shown under ``label``: an st.metric's, or one of the static headline
    numbers the Playground draws as HTML (stat_html)."""
    shown = {m.label: m.value for m in at.metric}
    for h in at.get("html"):
        shown.update(html_stats(h.value))
    assert label in shown, sorted(shown)
    return shown[label]


def png_bytes(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 120).save(buf, "PNG")
    return buf.getvalue()


# --- the frame ---------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["playground", "compare", "uncertainty", "theory"])
def test_every_page_has_the_frame(page: str) -> None:
    at = open_page(page, draws="2") if page == "uncertainty" else open_page(page)
    assert_clean(at)
    assert "Random weights: predictions are meaningless" in texts(at.warning)
    status = texts(at.markdown)  # st.badge renders as a markdown badge
    assert re.search(r"badge\[:material/memory: (CPU · \d+ threads|GPU · .+)\]", status)
    assert "ResNet-18" in status


# --- Playground ----------------------------------------------------------------------------


def test_playground_defaults() -> None:
    at = open_page()
    assert_clean(at)
    assert at.title[0].value == "Playground"
    # The input and both CAMs, and the site's cells: inline HTML, no image elements.
    assert not at.image
    captions = image_captions(at)
    assert "Input (cat), as the network sees it" in captions
    assert re.search(r"Baseline: .+\nWith DropBlock: .+", captions)
    assert metric(at, "target p") == "0.100"
    assert re.fullmatch(r"[01]\.\d{3}", metric(at, "measured"))
    assert metric(at, "top-1 changed") in ("yes", "no")
    assert re.fullmatch(r"\d+\.\d{4}", metric(at, "KL(baseline ‖ draw)"))
    assert "pass" in texts(at.caption) and fingerprint(at)
    labels = {b.label for b in at.get("download_button")}
    assert {
        "CAMs (PNG)",
        "Masks (PNG)",
        "Top-5 (CSV)",
        "Drop rates (CSV)",
        "Everything (JSON)",
    } <= labels
    tables = [h.value for h in at.get("html")]
    assert any("this draw" in t and t.count("<tr>") == 6 for t in tables)  # header + top-5
    assert any("measured − expected" in t for t in tables)
    # Mask, before and after large; the channel grid as three strips of tiles.
    assert any(t.count("<figure") == 3 and "red = dropped" in t for t in tables)
    assert any(
        t.count("data:image/png;base64,") == 3 and "most active channels" in t for t in tables
    )


@pytest.mark.parametrize("method", METHODS)
def test_playground_each_method(method: str) -> None:
    at = open_page()
    at.selectbox(key="method").set_value(method).run()
    assert_clean(at)
    if method == "none":
        assert "No regularizer is injected" in texts(at.info)
    else:
        assert METHOD_LABELS[method] in texts(at.caption)
        assert at.selectbox(key="site").options


def test_same_link_same_masks_and_seed_changes_them() -> None:
    query = {"method": "DropBlock", "keep": "0.8", "block": "3", "seed": "7"}
    first, again = fingerprint(open_page(**query)), fingerprint(open_page(**query))
    assert first == again
    assert fingerprint(open_page(**{**query, "seed": "8"})) != first


@pytest.mark.parametrize(
    ("query", "measured"),
    [
        ({"keep": "0"}, "1.000"),  # everything dropped
        ({"keep": "1"}, "0.000"),  # nothing dropped
        ({"keep": "0.5", "block": "32"}, None),  # block larger than every map
        ({"keep": "0.75", "block": "1", "per_channel": "false"}, None),
        ({"stages": ["layer1", "layer2", "layer3", "layer4"], "depth": "true"}, None),
        ({"gamma": "paper", "seeding": "valid", "block": "14"}, None),
        ({"seed": str(2**31 - 1)}, None),
    ],
)
def test_playground_extreme_values(query: dict[str, str], measured: str | None) -> None:
    at = open_page(**query)
    assert_clean(at)
    assert not at.warning[1:], texts(at.warning)  # only the random-weights banner
    if measured is not None:
        assert metric(at, "measured") == measured


def test_drop_path_on_the_skip_path_falls_back_to_the_branch() -> None:
    at = open_page(method="DropPath", where="skip")
    assert_clean(at)
    assert "DropPath only drops residual branches" in texts(at.sidebar.caption)


def test_drop_connect_on_identity_skips_only_is_explained() -> None:
    # ResNet-18's layer1 keeps its width, so every shortcut is an identity: no weights.
    at = open_page(method="DropConnect", where="skip", stages="layer1")
    assert not at.exception
    assert "identity shortcuts have no weights" in texts(at.error)
    at = open_page(method="DropConnect", where="skip", stages="layer4")
    assert_clean(at)
    assert at.selectbox(key="site").options == ["layer4.0.downsample"]


def test_schedule_sets_keep_prob_from_the_step() -> None:
    at = open_page(sched="true", start="1", end="0.5", total="1000", step="1000")
    assert_clean(at)
    assert metric(at, "keep_prob at this step") == "0.5000"
    assert metric(at, "target p") == "0.500"
    assert at.slider(key="keep").disabled


def test_empty_stage_choice_is_a_message() -> None:
    at = open_page()
    at.multiselect(key="stages").set_value([]).run()
    assert not at.exception
    assert "Choose at least one stage" in texts(at.error)


def test_bad_link_values_are_reported_and_replaced() -> None:
    at = open_page(
        keep="nan",
        block="999",
        method="Bogus",
        stages=["layer9", "layer4"],
        seed="-1",
        gamma="??",
        site="layer9.0.branch",
        sched="maybe",
    )
    assert_clean(at)
    report = texts(at.warning)
    for fragment in (
        "keep=nan",
        "block=999",
        "method=Bogus",
        "layer9",
        "seed=-1",
        "gamma=??",
        "site=layer9.0.branch",
        "sched=maybe",
    ):
        assert fragment in report, fragment
    assert at.slider(key="keep").value == pytest.approx(0.9)
    assert at.slider(key="block").value == 7
    assert at.multiselect(key="stages").value == ["layer4"]


def test_good_upload_is_used() -> None:
    at = open_page()
    at.get("file_uploader")[0].upload("grey16.png", png_bytes("I;16"), "image/png")
    at.run()
    assert_clean(at)
    assert "Input (grey16.png)" in image_captions(at)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"these are my notes, not a picture", "not a JPEG, PNG or WebP"),
        ("cut.png", png_bytes(size=(256, 256))[:200], "damaged"),
        ("tiny.png", png_bytes(size=(4, 4)), "at least"),
    ],
)
def test_bad_upload_is_a_message_and_the_sample_is_used(
    name: str, data: bytes, reason: str
) -> None:
    at = open_page()
    at.get("file_uploader")[0].upload(name, data, "image/png")
    at.run()
    assert not at.exception
    message = texts(at.error)
    assert name in message and reason in message
    assert "Input (cat)" in image_captions(at)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_each_lesson_preset_applies(preset: object) -> None:
    at = open_page(method="Dropout", block="3")
    at.button_group(key="preset").set_value(preset.name).run()  # type: ignore[attr-defined]
    assert_clean(at)
    wanted = preset.values  # type: ignore[attr-defined]
    assert at.selectbox(key="method").value == wanted["method"]
    assert at.slider(key="block").value == wanted.get("block", 7)
    assert at.button_group(key="preset").value is None


def test_teacher_can_fix_controls() -> None:
    at = open_page(fix=["method", "strength"], keep="0.8")
    assert_clean(at)
    assert at.selectbox(key="method").disabled and at.slider(key="keep").disabled
    assert not at.slider(key="block").disabled
    assert not at.get("button_group") or "preset" not in {b.key for b in at.get("button_group")}
    fixed = [e for e in at.sidebar.expander if e.label == "Fixed for this lesson"]
    assert fixed and fixed[0].slider(key="keep").value == pytest.approx(0.8)


# --- Compare ------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", ["block sizes", "all methods", "keep_prob", "gamma and seeding"])
def test_compare_each_grid(grid: str) -> None:
    at = open_page("compare", grid=grid)
    assert_clean(at)
    cells = {"block sizes": 4, "all methods": 6, "keep_prob": 4, "gamma and seeding": 4}
    assert image_captions(at).count("top-1:") == cells[grid]


def test_compare_extremes() -> None:
    at = open_page(
        "compare", grid="all methods", keep="0", stages="layer1", mask_stage="layer4", where="skip"
    )
    assert_clean(at)
    assert "Nothing is dropped in layer4" in texts(at.info)


def test_compare_bad_upload() -> None:
    at = open_page("compare")
    at.get("file_uploader")[0].upload("x.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
    at.run()
    assert not at.exception
    assert "x.webp" in texts(at.error)


# --- Uncertainty --------------------------------------------------------------------------


def test_uncertainty_defaults() -> None:
    at = open_page("uncertainty", draws="4")
    assert_clean(at)
    assert re.fullmatch(r"\d+%", metric(at, "top-1 flip rate"))
    assert "4 draws" in texts(at.caption)
    assert {"Draws (CSV)", "Summary (JSON)"} <= {b.label for b in at.get("download_button")}


@pytest.mark.parametrize("method", METHODS)
def test_uncertainty_each_method(method: str) -> None:
    at = open_page("uncertainty", draws="3", method=METHOD_LABELS[method])
    assert_clean(at)
    if method == "none":
        assert metric(at, "top-1 flip rate") == "0%"
        assert "every draw is the same network" in texts(at.info)


def test_uncertainty_extremes_and_trail() -> None:
    at = open_page("uncertainty", draws="64", keep="0.05", block="1")
    assert_clean(at)
    at.slider(key="keep").set_value(1.0).run()
    assert_clean(at)
    assert metric(at, "top-1 flip rate") == "0%"
    assert "2 runs" in texts(at.caption)
    at.button[0].click().run()
    assert "1 run in" in texts(at.caption)


def test_uncertainty_bad_link_draws() -> None:
    at = open_page("uncertainty", draws="100000")
    assert_clean(at)
    assert "draws=100000" in texts(at.warning) and "16 draws" in texts(at.caption)


# --- The math ----------------------------------------------------------------------------


def test_theory_defaults() -> None:
    at = open_page("theory")
    assert_clean(at)
    assert len(at.get("latex")) == 3 + 2 + 1  # gamma formulas, dropout scaling, schedule
    table = at.dataframe[0].value
    exact = table[(table["gamma"] == "exact")]
    assert exact["expected dropped"].tolist() == pytest.approx([0.1, 0.1])
    assert metric(at, "keep_prob at this step") == "0.9500"


@pytest.mark.parametrize(
    "query",
    [
        {"h": "1", "w": "64", "block": "32"},
        {"keep": "0", "block": "1"},
        {"keep": "1", "seeding": "valid", "gamma": "paper"},
        {"h": "64", "w": "64", "block": "2", "prune": "0.95", "l2": "0.05"},
        {"total": "1", "step": "1", "start": "0", "end": "1"},
    ],
)
def test_theory_extremes(query: dict[str, str]) -> None:
    at = open_page("theory", **query)
    assert_clean(at)
    assert not at.warning[1:], texts(at.warning)


def test_theory_tab_controls_rerun_their_tab() -> None:
    at = open_page("theory")
    at.slider(key="step").set_value(10_000).run()
    assert_clean(at)
    assert metric(at, "keep_prob at this step") == "0.9000"
    at.slider(key="prune").set_value(0.3).run()
    assert_clean(at)
    assert any("pruned 30%" in str(c.proto.spec) for c in at.get("plotly_chart"))


def test_theory_with_fixed_strength_controls() -> None:
    at = open_page("theory", fix="strength", step="0")
    assert_clean(at)
    assert at.slider(key="step").disabled and at.slider(key="prune").disabled
    assert metric(at, "keep_prob at this step") == "1.0000"


def test_theory_bad_link() -> None:
    at = open_page("theory", h="0", w="1e9", tab="Nope", prune="-1")
    assert_clean(at)
    for fragment in ("h=0", "w=1e9", "prune=-1"):
        assert fragment in texts(at.warning)


# --- a server without usable weights ------------------------------------------------------


def test_unusable_weights_are_a_message_and_the_math_still_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "weights.pth"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("DROPLAB_WEIGHTS", str(broken))
    shared_model.clear()  # earlier tests cached the good model in this process
    at = open_page()
    assert not at.exception
    assert "could not be loaded" in texts(at.error) and "corrupt" in texts(at.error)
    at = open_page("theory")
    assert not at.exception and at.dataframe  # the math needs no network


def test_the_playground_fragment_runs_inside_the_admission_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every run of the controls fragment and of the results fragment nested in it holds
    a place in the gate, so a class's burst of identical clicks is served in turn
    (pages.ui.admission); a light change reruns the results alone, through the gate."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    from pages.ui import admission

    entered: list[float] = []

    @contextmanager
    def recording_slot(stall_s: float = admission.STALL_S) -> Iterator[bool]:
        entered.append(stall_s)
        yield True

    monkeypatch.setattr(admission, "render_slot", recording_slot)
    at = open_page(keep="0.85")
    assert_clean(at)
    assert entered == [admission.STALL_S] * 2  # the controls, then the results within
    at.slider(key="keep").set_value(0.8).run()
    assert_clean(at)
    assert len(entered) == 3
    # Pages without a gate are not slowed down by it.
    open_page("theory")
    assert len(entered) == 3
