"""The app's building blocks without a browser: link checks, presets, pictures, exports."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import torch
from PIL import Image

from dropcore import LinearSchedule
from dropcore.probe import ProbeResult, ProbeSettings, SiteRecord
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.charts import bars, heatmap, lines
from pages.ui.controls import Control, Panel
from pages.ui.exports import csv_bytes, json_bytes, settings_record
from pages.ui.presets import PRESETS, Preset, preset_values
from pages.ui.regularizer import Regularizer

# --- link checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("0.5", None),
        ("1", None),
        ("abc", "not a number"),
        ("nan", "outside"),
        ("inf", "outside"),
        ("1.5", "outside"),
        ("-0.1", "outside"),
    ],
)
def test_float_slider_link_check(raw: str, problem: str | None) -> None:
    found = c.KEEP.url_problem([raw])
    assert (found is None) if problem is None else (problem in found)


def test_integer_slider_link_check_and_dynamic_bound() -> None:
    assert c.BLOCK.url_problem(["7"]) is None
    assert "not a whole number" in c.BLOCK.url_problem(["7.5"])
    assert "outside 1..32" in c.BLOCK.url_problem(["33"])
    assert c.STEP.url_problem(["900"], hi=1000) is None
    assert "outside 0..500" in c.STEP.url_problem(["900"], hi=500)
    assert c.STEP.default_value(hi=100) == 100  # default clamped into a shorter schedule


def test_number_flag_choice_and_multi_link_checks() -> None:
    assert c.SEED.url_problem(["12"]) is None
    assert "not a whole number" in c.SEED.url_problem(["1.5"])
    assert "outside" in c.SEED.url_problem([str(2**31)])
    assert c.SCHEDULE.url_problem(["TRUE"]) is None
    assert "not true or false" in c.SCHEDULE.url_problem(["yes"])
    # Links carry labels, not internal names.
    assert c.METHOD.url_problem(["DropBlock"]) is None
    assert "not one of" in c.METHOD.url_problem(["drop_block"])
    assert c.SITE.url_problem(["a.b"], options=("a.b", "c.d")) is None
    assert c.SITE.default_value(options=("x", "y")) == "x"
    assert c.METHOD.describe("drop_block") == "DropBlock" and c.DEPTH.describe(True) == "on"
    assert c.STAGES_CONTROL.url_problem(["layer3", "layer4"]) is None
    assert "ignored `layer9`" in c.STAGES_CONTROL.url_problem(["layer9", "layer4"])
    assert "`layer9` is not one of" in c.STAGES_CONTROL.url_problem(["layer9"])


@pytest.mark.parametrize(
    ("control", "override"),
    [
        (c.SEED, {"hi": 5}),
        (c.KEEP, {"options": ("a",)}),
        (c.SITE, {"hi": 3}),
        (c.STAGES_CONTROL, {"option": ("layer1",)}),
        (c.DEPTH, {"disable": True}),
    ],
)
def test_controls_reject_overrides_they_do_not_take(control: Control, override: dict) -> None:
    # A misspelt or misplaced override must fail loudly, not be swallowed.
    with pytest.raises(TypeError, match="unexpected keyword"):
        control.url_problem(["1"], **override)
    with pytest.raises(TypeError, match="unexpected keyword"):
        control.default_value(**override)


def test_a_fragments_panel_checks_the_link_on_its_full_run_only() -> None:
    """The first panel a fragment gets (the full run) checks the link and carries the
    frame's problems; its reruns, later in the visit, check nothing and start clean."""
    area, notices = object(), object()
    frame = Panel(
        check_link=True,
        area=area,
        notices=notices,  # type: ignore[arg-type]
        locked=frozenset({"image"}),
    )
    frame.problems.append("Sample image: 'dog' is not an option; using cat.")
    first = frame.for_fragment()
    assert first.check_link and first.problems == frame.problems
    assert (first.area, first.notices, first.locked) == (area, notices, frame.locked)
    first.problems.append("keep_prob: 'x' is not a number; using 0.9.")
    assert len(frame.problems) == 1  # the frame's list is not the fragment's
    later = frame.for_fragment()
    assert not later.check_link and later.problems == []
    quiet = Panel(check_link=False, area=area, notices=notices)  # type: ignore[arg-type]
    assert not quiet.for_fragment().check_link


def test_keep_prob_to_drop_probability_has_no_float_noise() -> None:
    assert 1 - 0.9 != 0.1 and c.drop_probability(0.9) == 0.1
    assert c.drop_probability(1.0) == 0.0 and c.drop_probability(0.0) == 1.0


def test_pictures_are_drawn_once_per_probe_and_part() -> None:
    from dropcore.probe import ProbeSettings
    from dropcore.probe.cache import probe_key
    from pages.ui.shared import shared

    key = probe_key(torch.nn.Linear(1, 1), torch.rand(3), ProbeSettings(), seed=991)
    draws: list[str] = []

    def draw(name: str) -> bytes:
        draws.append(name)
        return name.encode()

    assert shared(key, "cams", lambda: draw("a")) == b"a"
    assert shared(key, "cams", lambda: draw("b")) == b"a"  # another session: same picture
    assert shared(key, ("site", "x"), lambda: draw("c")) == b"c"
    assert shared(None, "cams", lambda: draw("d")) == b"d"  # no key: never shared
    assert shared(None, "cams", lambda: draw("e")) == b"e"
    assert draws == ["a", "c", "d", "e"]


def test_a_page_view_is_built_once_and_says_who_ran_the_pass() -> None:
    import threading

    from dropcore.probe import Lookup, ProbeSettings
    from dropcore.probe.cache import probe_key
    from pages.ui.shared import shared_view

    key = probe_key(torch.nn.Linear(1, 1), torch.rand(3), ProbeSettings(), seed=992)
    lookups: list[str] = []
    gate = threading.Event()

    def lookup() -> Lookup:
        lookups.append("pass")
        gate.wait(5)  # the second session asks while the first is still building
        return Lookup(result=None, source="computed", key=key)  # type: ignore[arg-type]

    out: dict[str, object] = {}

    def session(name: str) -> None:
        out[name] = shared_view(key, "page", lookup, lambda found: ("view", found.source))

    first = threading.Thread(target=session, args=("first",))
    first.start()
    while not lookups:
        threading.Event().wait(0.01)
    second = threading.Thread(target=session, args=("second",))
    second.start()
    gate.set()
    first.join(5)
    second.join(5)
    assert lookups == ["pass"]  # one pass, one build for both sessions
    a, b = out["first"], out["second"]
    assert a.value is b.value == ("view", "computed")  # type: ignore[union-attr]
    assert a.shared is False and b.shared is True  # type: ignore[union-attr]
    later = shared_view(key, "page", lookup, lambda found: ("other", found.source))
    assert later is not None and later.value is a.value and later.shared  # type: ignore[union-attr]
    assert lookups == ["pass"]


def test_a_page_view_without_a_result_is_not_stored() -> None:
    from dropcore.probe import ProbeSettings
    from dropcore.probe.cache import probe_key
    from pages.ui.shared import shared_view

    key = probe_key(torch.nn.Linear(1, 1), torch.rand(3), ProbeSettings(), seed=993)
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)  # run_probe has shown its error message and returns None

    assert shared_view(key, "page", failing, lambda found: "never") is None
    assert shared_view(key, "page", failing, lambda found: "never") is None
    assert len(calls) == 2  # nothing was stored: the next rerun tries again


def test_a_frozen_figure_thaws_into_an_equal_figure_each_time() -> None:
    from pages.ui.charts import FrozenFigure

    fig = bars(
        ["a", "b"], {"baseline": [0.2, 0.8], "regularized": [0.5, 0.5]}, horizontal=True, title="T"
    )
    frozen = FrozenFigure.of(fig)
    one, two = frozen.thaw(), frozen.thaw()
    assert one.to_dict() == fig.to_dict() == two.to_dict()
    one.update_layout(title="changed by one session")
    assert frozen.thaw().to_dict() == fig.to_dict()  # the frozen spec is not touched
    with pytest.raises(FrozenInstanceError):
        frozen.spec = b"{}"  # type: ignore[misc]


def test_every_control_key_is_unique() -> None:
    keys = [v.key for v in vars(c).values() if isinstance(v, Control)]
    assert len(keys) == len(set(keys))


# --- presets -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_make_valid_settings(preset: Preset) -> None:
    v = preset_values(preset)
    assert v["method"] in c.METHOD.options and v["where"] in c.WHERE_CONTROL.options
    schedule = LinearSchedule(start_keep=v["start"], end_keep=v["end"], total_steps=v["total"])
    keep = schedule.keep_prob(v["step"]) if v["sched"] else v["keep"]
    ProbeSettings(
        method=v["method"],
        p=1 - keep,
        block_size=v["block"],
        gamma=v["gamma"],
        seeding=v["seeding"],
        per_channel=v["per_channel"],
        inverted=v["inverted"],
        stages=tuple(v["stages"]),
        where=v["where"],
        depth_scaling=v["depth"],
        cam_layer=v["cam"],
    )


def test_paper_preset_is_the_papers_setting() -> None:
    v = preset_values(PRESETS[0])
    assert (v["method"], v["keep"], v["block"], v["stages"], v["where"]) == (
        "drop_block",
        0.9,
        7,
        ["layer3", "layer4"],
        "both",
    )


def test_preset_with_unknown_control_is_refused() -> None:
    with pytest.raises(KeyError, match="bogus"):
        preset_values(Preset("broken", "", {"bogus": 1}))


# --- pictures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask_shape", "expected"),
    [
        ((8, 5, 6), (5, 6)),  # per-channel DropBlock / Dropout
        ((1, 5, 6), (5, 6)),  # shared mask
        ((8, 1, 1), (5, 6)),  # SpatialDropout
        ((1, 1, 1), (5, 6)),  # DropPath
        ((4, 10, 3, 3), (12, 12)),  # DropConnect conv weight: 10 kernels on a 4 x 4 grid
        ((4, 300, 1, 1), (16, 16)),  # at most 256 input kernels are shown
    ],
)
def test_mask_plane_shapes(mask_shape: tuple[int, ...], expected: tuple[int, int]) -> None:
    mask = torch.rand(mask_shape) > 0.5
    plane = render.mask_plane(mask, 2 if mask_shape[0] > 2 else 0, (5, 6))
    assert plane.dtype == torch.bool and tuple(plane.shape) == expected


def test_spatial_mask_plane_is_the_channels_draw() -> None:
    mask = torch.tensor([True, False]).view(2, 1, 1)
    assert render.mask_plane(mask, 0, (3, 3)).all()
    assert not render.mask_plane(mask, 1, (3, 3)).any()


def test_model_view_undoes_the_normalisation() -> None:
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    rgb = torch.rand(3, 8, 8)
    x = (rgb - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    view = torch.from_numpy(np.array(render.model_view(x, mean, std))).permute(2, 0, 1)
    # A small input is enlarged by a whole factor (crisp pixels): 8 x 8 -> 224 x 224.
    assert view.shape == (3, 224, 224)
    assert (view[:, ::28, ::28].float() / 255 - rgb).abs().max() < 1 / 255


def test_overlay_mask_tile_grid_and_png() -> None:
    view = Image.new("RGB", (56, 56), (10, 20, 30))
    assert render.overlay(view, torch.rand(7, 7)).size == (56, 56)
    tile = render.mask_tile(torch.tensor([[True, False]]), size=100)
    assert tile.size == (100, 50)  # scaled by a whole factor, aspect kept
    assert tile.getpixel((75, 10)) == render.DROPPED_RGB
    assert tile.getpixel((25, 10)) == render.KEPT_RGB
    grid = render.grid([[tile, tile], [tile]], labels=("a", "b"), titles=("x", "y"))
    assert grid.size == (70 + 2 * 104 + 4, 18 + 2 * 54 + 4)
    assert Image.open(io.BytesIO(render.png_bytes(grid))).size == grid.size


def make_result(mask: torch.Tensor, top1: int = 3) -> ProbeResult:
    logits = torch.zeros(1, 10)
    logits[0, top1] = 5
    site = SiteRecord("layer3.0.branch", 0.1, 0.1, 0.1, mask, None, None)
    return ProbeResult(
        ProbeSettings(),
        0,
        1,
        top1,
        logits[0],
        logits,
        (site,),
        torch.zeros(7, 7),
        torch.zeros(1, 7, 7),
        0.1,
    )


def test_fingerprint_follows_masks_and_prediction() -> None:
    mask = torch.rand(4, 6, 6) > 0.3
    same = make_result(mask.clone())
    assert render.fingerprint(make_result(mask)) == render.fingerprint(same)
    flipped = mask.clone()
    flipped[0, 0, 0] = ~flipped[0, 0, 0]
    assert render.fingerprint(make_result(flipped)) != render.fingerprint(same)
    assert render.fingerprint(make_result(mask, top1=4)) != render.fingerprint(same)


def test_strongest_channels() -> None:
    before = torch.zeros(5, 2, 2)
    before[3] += 2
    before[1] += 1
    assert render.strongest_channels(before, 2) == [3, 1]


# --- charts --------------------------------------------------------------------------------


def test_line_chart_measurements_share_the_series_legend() -> None:
    fig = lines(
        [1, 2],
        {"exact · valid": [0.1, 0.1], "target": [0.1, 0.1]},
        x_title="b",
        y_title="f",
        points={"exact · valid": ([1, 2], [0.1, 0.09])},
        y_range=(0, 0.2),
    )
    measured = fig.data[-1]
    assert measured.mode == "markers" and measured.showlegend is False
    assert measured.legendgroup == "exact · valid"
    assert tuple(fig.layout.yaxis.range) == (0, 0.2)


def test_a_lone_trace_with_a_legend_gets_a_legend_band_under_the_title() -> None:
    titled = {"x_title": "keep_prob", "y_title": "flip rate", "title": "Trail"}
    lone = lines([0.9], {}, points={"measured": ([0.9], [0.5])}, **titled)
    plain = lines([0.9], {"target": [0.1]}, **titled)
    assert lone.data[0].showlegend is True and plain.data[0].showlegend is None
    # One band of legend (22 px) between title and plot only where a legend is drawn.
    assert lone.layout.margin.t == plain.layout.margin.t + 22


def test_bar_labels_only_when_readable_and_heatmap_orientation() -> None:
    few = bars(["a", "b"], {"baseline": [1, 2]})
    many = bars([str(i) for i in range(20)], {"target": list(range(20))})
    assert few.data[0].texttemplate and not many.data[0].texttemplate
    assert heatmap(torch.zeros(3, 3).numpy()).layout.yaxis.autorange == "reversed"


# --- exports -------------------------------------------------------------------------------


def test_csv_and_json_exports() -> None:
    rows = [{"site": "layer3.0.branch", "measured": 0.1}, {"site": "x", "measured": 0.2}]
    parsed = list(csv.DictReader(io.StringIO(csv_bytes(rows).decode())))
    assert parsed[1] == {"site": "x", "measured": "0.2"}
    assert csv_bytes([]) == b""
    assert json.loads(json_bytes({"stages": ("layer3",)})) == {"stages": ["layer3"]}


def test_settings_record_and_summary_with_schedule() -> None:
    schedule = LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=100)
    reg = Regularizer(
        settings=ProbeSettings(p=0.05), seed=3, keep_prob=0.95, schedule=schedule, step=50
    )
    record = settings_record(reg, "cat")
    assert record["schedule"]["step"] == 50 and record["settings"]["p"] == 0.05
    assert reg.summary().startswith("DropBlock · keep_prob 0.95 (step 50 of 100)")
    none = Regularizer(
        settings=ProbeSettings(method="none"), seed=0, keep_prob=1.0, schedule=None, step=None
    )
    assert none.summary() == "No regularizer" and "schedule" not in settings_record(none, "x")


# --- reading the controls without drawing them -------------------------------------------


def _draw_and_read() -> None:
    import streamlit as st

    from pages.ui.controls import Panel
    from pages.ui.regularizer import draw_choices, read_choices

    panel = Panel(check_link=True, area=st.sidebar.container(), notices=st.container())
    drawn = draw_choices(panel)
    st.session_state["drawn"], st.session_state["read"] = drawn, read_choices(panel)


def test_reading_the_controls_back_gives_what_drawing_them_returned() -> None:
    """The Playground's results fragment reads the sidebar without drawing it. For every
    kind of control (slider, number box, toggle, select, segmented, multiselect) the value
    read back equals the one the widget returned, from a link and after user changes."""
    from streamlit.testing.v1 import AppTest

    from pages.ui.regularizer import regularizer_from

    at = AppTest.from_function(_draw_and_read, default_timeout=60)
    at.query_params.update(
        {
            "method": "DropPath",
            "keep": "0.7",
            "sched": "true",
            "start": "0.95",
            "total": "2000",
            "step": "1500",
            "block": "3",
            "gamma": "paper",
            "seeding": "valid",
            "per_channel": "false",
            "stages": ["layer2", "layer3"],
            "where": "skip",
            "depth": "true",
            "cam": "layer3",
            "seed": "12",
        }
    )
    at.run()
    assert not at.exception
    drawn = at.session_state["drawn"]
    assert drawn == at.session_state["read"]
    assert (drawn.method, drawn.total, drawn.step, drawn.stages) == (
        "drop_path",
        2000,
        1500,
        ("layer2", "layer3"),
    )
    assert isinstance(drawn.total, int) and isinstance(drawn.stages, tuple)
    reg = regularizer_from(drawn)
    assert not isinstance(reg, str)
    assert reg.settings.where == "branch" and reg.step == 1500  # DropPath drops branches
    assert reg.keep_prob == pytest.approx(
        LinearSchedule(start_keep=0.95, end_keep=0.9, total_steps=2000).keep_prob(1500)
    )

    at.toggle(key="sched").set_value(False).run()  # keep_prob is enabled again
    at.slider(key="keep").set_value(0.55)
    at.multiselect(key="stages").set_value([])
    at.number_input(key="seed").set_value(99)
    at.run()
    drawn = at.session_state["drawn"]
    assert drawn == at.session_state["read"]
    assert (drawn.keep, drawn.stages, drawn.seed, drawn.schedule) == (0.55, (), 99, None)
    assert "at least one stage" in regularizer_from(drawn)  # type: ignore[operator]
