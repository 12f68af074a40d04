"""AppTest for the Train page: defaults, each lesson, extreme values, bad links, finished
runs (table, curves, Grad-CAM, downloads) and trained networks on the other pages.

Nothing here trains: finished runs are written into a temporary run cache as synthetic
results with untrained weights (the page only reads the cache), so these tests take
seconds. The Chromium test (tests/e2e/test_train_e2e.py) trains for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dropcore.train import (
    EpochRecord,
    RunCache,
    RunConfig,
    RunResult,
    RunStatus,
    TrainedRun,
    build_model,
    load_dataset,
)
from dropcore.train.presets import LESSONS, lesson_runs
from dropcore.train.summary import MeanSd, Row
from pages.ui.picker import net_label
from pages.ui.train_explain import known_spreads, measure_spreads
from pages.ui.train_results import reading
from pages.ui.train_runs import Board
from pages.ui.train_shipped import shipped_by_key
from tests.conftest import image_captions

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# A small custom comparison whose runs the fixtures below fake into the cache.
CUSTOM = {
    "lesson": "Your settings",
    "methods": ["none", "drop_block"],
    "seeds": "2",
    "n": "100",
    "epochs": "3",
}


@pytest.fixture(autouse=True)
def private_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty run cache and the small random ResNet for the frame."""
    monkeypatch.setenv("DROPLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DROPLAB_MODEL", "resnet18")
    monkeypatch.setenv("DROPLAB_WEIGHTS", "random")
    return tmp_path / "runs"


def open_page(page: str = "train", **query: str | list[str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query)
    at.switch_page(f"pages/{page}.py")
    return at.run()


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def train_button(at: AppTest) -> str:
    return next(b.label for b in at.button if b.key == "train_go")


def custom_configs() -> list[RunConfig]:
    return [
        RunConfig(method=m, p=0.1, train_size=100, epochs=3, seed=s)
        for m in ("none", "drop_block")
        for s in range(2)
    ]


def fake_result(config: RunConfig) -> RunResult:
    """A plausible finished result of ``config`` (curves, test accuracy, drop rates)."""
    rate = 0.0 if config.method == "none" else config.p
    epochs = tuple(
        EpochRecord(
            epoch=e,
            train_loss=2.0 / e,
            train_acc=0.5 + 0.1 * e,
            train_eval_acc=0.55 + 0.12 * e - 0.01 * config.seed,
            val_loss=1.5 / e + 0.1,
            val_acc=0.5 + 0.05 * e + 0.01 * config.seed,
            gap=0.05 + 0.07 * e,
            rate=rate,
            dropped={"layer3.0.branch": rate} if rate else {},
            target={"layer3.0.branch": rate} if rate else {},
            seconds=1.0,
        )
        for e in range(1, config.epochs + 1)
    )
    return RunResult(
        config=config,
        epochs=epochs,
        test_loss=1.0,
        test_acc=0.6 + 0.01 * config.seed,
        best_val_acc=epochs[-1].val_acc,
        best_epoch=config.epochs,
        seconds=3.0,
    )


def fake_run(cache: RunCache, config: RunConfig) -> None:
    """A finished run in ``cache``: :func:`fake_result` and an untrained network's weights."""
    model = build_model(config, load_dataset(config.dataset))
    cache.store(
        TrainedRun(fake_result(config), {k: v.clone() for k, v in model.state_dict().items()})
    )


@pytest.fixture()
def finished(private_runs: Path) -> list[RunConfig]:
    cache = RunCache(private_runs)
    configs = custom_configs()
    for cfg in configs:
        fake_run(cache, cfg)
    return configs


# --- before any run ----------------------------------------------------------------------


def test_defaults_render_without_a_click() -> None:
    at = open_page()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Train"]
    lesson = LESSONS["methods"]
    assert lesson.title in texts(at.subheader)
    n = len(lesson_runs("methods", 3, size="lesson"))
    assert train_button(at) == f"Train {n} runs"
    # Informative before a click: the shipped comparison, or a plain statement.
    assert ("Before you train" in texts(at.info)) or ("been trained yet" in texts(at.info))


@pytest.mark.parametrize("key", list(LESSONS))
def test_each_lesson(key: str) -> None:
    at = open_page(lesson=LESSONS[key].title, size="quick", seeds="2")
    assert_clean(at)
    assert LESSONS[key].title in texts(at.subheader)
    assert train_button(at) == f"Train {len(lesson_runs(key, 2, size='quick'))} runs"
    assert not at.warning[1:], texts(at.warning)  # only the frame's random-weights banner


def test_keep_sweep_of_another_method() -> None:
    at = open_page(lesson=LESSONS["keep_sweep"].title, sweep="Dropout", seeds="1")
    assert_clean(at)
    assert "keep_prob sweep: Dropout" in texts(at.subheader)
    assert "keep 0.7" in texts(at.markdown)


@pytest.mark.parametrize(
    "query",
    [
        {"keep": "0", "block": "32", "n": "100", "epochs": "1", "seeds": "1"},
        {"keep": "1", "fc": "0.9", "n": "10000", "epochs": "40", "seeds": "5"},
        {
            "methods": [
                "none",
                "dropout",
                "spatial_dropout",
                "drop_block",
                "drop_path",
                "drop_connect",
            ],
            "where": "skip",
            "sched": "true",
            "start": "0",
        },
        {
            "stages": ["layer1", "layer2", "layer3", "layer4"],
            "gamma": "paper",
            "seeding": "valid",
            "block": "1",
        },
    ],
)
def test_custom_extreme_values(query: dict[str, str | list[str]]) -> None:
    at = open_page(lesson="Your settings", **query)
    assert_clean(at)
    assert not at.warning[1:], texts(at.warning)
    assert train_button(at).startswith("Train ")


def test_no_method_or_no_stage_is_a_message() -> None:
    at = open_page(lesson="Your settings")
    at.multiselect(key="methods").set_value([]).run()
    assert not at.exception
    assert "Pick at least one method" in texts(at.error)
    at.multiselect(key="methods").set_value(["dropout"]).run()
    at.multiselect(key="stages").set_value([]).run()
    assert "Choose at least one stage" in texts(at.error)


def test_bad_link_values_are_reported_and_replaced() -> None:
    at = open_page(
        lesson="Your settings",
        keep="2",
        n="abc",
        epochs="0",
        seeds="99",
        methods=["bogus", "dropout"],
        fc="nan",
        block="0",
    )
    assert not at.exception
    report = texts(at.warning)
    for fragment in ("keep=2", "n=abc", "epochs=0", "seeds=99", "bogus", "fc=nan", "block=0"):
        assert fragment in report, fragment
    assert train_button(at) == "Train 3 runs"  # dropout only, 3 seeds
    at = open_page(lesson="No such lesson", size="huge")
    assert not at.exception
    assert "lesson=No such lesson" in texts(at.warning)
    assert "size=huge" in texts(at.warning)


def test_teacher_can_fix_training_controls() -> None:
    at = open_page(fix=["training", "method"])
    assert_clean(at)
    assert at.slider(key="seeds").disabled
    assert "Fixed for this lesson" in [e.label for e in at.expander]


# --- finished runs -----------------------------------------------------------------------


@pytest.fixture()
def shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RunConfig]]:
    """The custom comparison's runs as if the project shipped them (no weights anywhere)."""
    import dropcore.train.shipped as package

    configs = custom_configs()
    by_label = {
        "none": [fake_result(c) for c in configs[:2]],
        "DropBlock": [fake_result(c) for c in configs[2:]],
    }
    monkeypatch.setattr(package, "shipped_results", lambda: by_label)
    shipped_by_key.clear()
    yield configs
    shipped_by_key.clear()


def test_shipped_results_fill_the_first_view(shipped: list[RunConfig]) -> None:
    at = open_page(**CUSTOM)
    assert_clean(at)
    assert "Before you train" in texts(at.info)
    assert "2 × shipped with DropLab" in texts(at.markdown)
    assert train_button(at) == "Train 4 runs"
    assert list(at.dataframe[0].value["variant"]) == ["None", "DropBlock"]
    labels = {b.label for b in at.get("download_button")}
    assert "Curves (CSV)" in labels and "Trained weights (ZIP)" not in labels
    assert "Inside the trained networks" not in texts(at.subheader)  # no weights shipped


def test_trained_runs_replace_shipped_ones(shipped: list[RunConfig], private_runs: Path) -> None:
    fake_run(RunCache(private_runs), shipped[0])  # one run trained here, three shipped
    at = open_page(**CUSTOM)
    assert_clean(at)
    board = texts(at.markdown)
    # Per variant: none has one run from the cache and one shipped; DropBlock two shipped.
    assert "1 × from the cache" in board and "1 × shipped with DropLab" in board
    assert "2 × shipped with DropLab" in board
    assert train_button(at) == "Train 3 runs"


def test_finished_runs_show_table_curves_and_insides(finished: list[RunConfig]) -> None:
    at = open_page(**CUSTOM)
    assert_clean(at)
    assert train_button(at) == "All runs are done"
    assert "2 × from the cache" in texts(at.markdown)
    table = at.dataframe[0].value
    assert list(table["variant"]) == ["None", "DropBlock"]
    assert list(table["seeds"]) == [2, 2]
    assert "±" in table["test acc %"][0]
    notes = texts(at.markdown)
    assert "Highest test accuracy" in notes and "Smallest gap" in notes
    assert "do not reproduce the DropBlock paper's ImageNet figures" in texts(at.caption)
    labels = {b.label for b in at.get("download_button")}
    assert {
        "Table (CSV)",
        "Curves (CSV)",
        "Everything (JSON)",
        "Trained weights (ZIP)",
        "Grad-CAM grid (PNG)",
    } <= labels
    assert "Gradient is 0 at every dropped position" in texts(at.success)
    charts = at.get("plotly_chart")
    assert len(charts) >= 2  # accuracy and loss curves


def test_cam_spread_is_measured_once_for_everyone(finished: list[RunConfig]) -> None:
    at = open_page(**CUSTOM)
    assert [b for b in at.button if b.key == "measure_spread"]
    # What the button runs (AppTest's navigation rerun swallows button clicks).
    measure_spreads(finished)
    assert known_spreads(finished) is not None
    again = open_page(**CUSTOM)  # the next visitor sees the measurement, no button
    assert_clean(again)
    assert not [b for b in again.button if b.key == "measure_spread"]
    assert "cam_spread" in [c.key for c in again.get("plotly_chart")]


@pytest.mark.parametrize("page", ["playground", "compare", "uncertainty"])
def test_trained_network_opens_on_other_pages(finished: list[RunConfig], page: str) -> None:
    cfg = finished[2]  # DropBlock, seed 0
    query = {"net": net_label(cfg)}
    if page == "uncertainty":
        query["draws"] = "2"
    at = open_page(page, **query)
    assert_clean(at)
    assert at.selectbox(key="net").value == cfg.key()
    assert at.selectbox(key="fimage").value == "T-shirt/top"
    # Fashion-MNIST class names, not ImageNet's, in what the page says about the picture.
    if page == "playground":
        assert "Input (T-shirt/top)" in image_captions(at)


def test_unknown_trained_network_in_a_link_falls_back(finished: list[RunConfig]) -> None:
    at = open_page("playground", net="Trained: nothing like this")
    assert not at.exception
    assert "net=Trained: nothing like this" in texts(at.warning)
    assert at.selectbox(key="net").value == "pretrained"


# --- reading the table -------------------------------------------------------------------


def _row(label: str, test: float, gap: float, sd: float = 0.01, n: int = 3) -> Row:
    m = lambda v: MeanSd(v, sd, n)  # noqa: E731
    return Row(label, m(test), m(test), m(test), m(gap), m(0.9), m(0.1), m(0.1), m(1.0))


def test_reading_says_a_smaller_gap_is_not_a_better_test_accuracy() -> None:
    lines = reading(
        [_row("none", 0.80, 0.15), _row("DropBlock", 0.81, 0.10), _row("Dropout", 0.70, 0.02)]
    )
    text = "\n".join(lines)
    assert "Highest test accuracy: **DropBlock**" in text
    assert "Smallest gap: **Dropout**" in text
    assert "not the best test accuracy" in text
    assert "Within the spread" in text and "DropBlock" in text.split("Within the spread")[1]


def test_reading_flags_a_regularizer_that_never_dropped() -> None:
    idle = Row(
        "DropBlock",
        *(MeanSd(0.8, 0.0, 1),) * 5,
        MeanSd(0.0, 0.0, 1),
        MeanSd(0.1, 0.0, 1),
        MeanSd(1.0, 0.0, 1),
    )
    text = "\n".join(reading([idle]))
    assert "Never applied" in text and "One seed" in text


# --- progress arithmetic -----------------------------------------------------------------


def test_time_left_counts_running_and_queued_runs() -> None:
    record = EpochRecord(
        epoch=1,
        train_loss=1.0,
        train_acc=0.5,
        train_eval_acc=0.5,
        val_loss=1.0,
        val_acc=0.5,
        gap=0.0,
        rate=0.0,
        dropped={},
        target={},
        seconds=20.0,
    )
    running = RunStatus("running", 0.25, 30.0, epochs=(record,))  # a run of 40 s
    b = Board({"a": running, "b": RunStatus("queued", position=2), "c": RunStatus("queued")})
    assert b.eta_s() == pytest.approx(30.0 + 2 * 40.0)
    assert b.queue_position == 0 and b.active and not b.complete
    # Once epochs are recorded they set the pace (they include the evaluation).
    paced = Board({"a": running, "b": RunStatus("queued")}, epochs={"a": 4})
    assert paced.eta_s() == pytest.approx(3 * 20.0 + 80.0)
    testing = RunStatus("running", 1.0, 0.0, epochs=(record, record))  # evaluating: 40 s
    assert Board(
        {"a": testing, "b": RunStatus("queued")}, epochs={"a": 2}
    ).eta_s() == pytest.approx(40.0)
    assert Board({"b": RunStatus("queued")}).eta_s() is None  # nothing measured yet
