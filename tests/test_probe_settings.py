"""ProbeSettings: validation with messages naming the bad value, normalisation, schedules."""

from __future__ import annotations

import dataclasses

import pytest

from dropcore import LinearSchedule
from dropcore.probe import METHODS, STAGES, ProbeSettings


def test_defaults_are_the_papers_setting() -> None:
    s = ProbeSettings()
    assert (s.method, s.p, s.block_size, s.stages, s.where) == (
        "drop_block",
        0.1,
        7,
        ("layer3", "layer4"),
        "both",
    )
    assert s.method in METHODS and set(s.stages) <= set(STAGES)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("method", "dropblock", "'dropblock'"),
        ("p", 1.5, "1.5"),
        ("p", float("nan"), "nan"),
        ("block_size", 0, "0"),
        ("gamma", "approx", "'approx'"),
        ("seeding", "center", "'center'"),
        ("per_channel", 1, "1"),
        ("inverted", "yes", "'yes'"),
        ("stages", (), "()"),
        ("stages", "layer3", "'layer3'"),
        ("stages", ("layer5",), "'layer5'"),
        ("blocks", (), "()"),
        ("blocks", (-1,), "-1"),
        ("blocks", (1.5,), "1.5"),
        ("where", "residual", "'residual'"),
        ("depth_scaling", None, "None"),
        ("cam_layer", "fc", "'fc'"),
    ],
)
def test_bad_field_raises_naming_the_value(field: str, value: object, named: str) -> None:
    with pytest.raises(ValueError) as info:
        ProbeSettings(**{field: value})
    assert field.rstrip("s") in str(info.value) and named in str(info.value)


def test_drop_path_cannot_target_the_shortcut() -> None:
    with pytest.raises(ValueError, match="skip"):
        ProbeSettings(method="drop_path", where="skip")
    assert ProbeSettings(method="drop_path", where="both").where == "both"


def test_selections_are_normalised_so_equal_choices_compare_equal() -> None:
    a = ProbeSettings(stages=["layer4", "layer3", "layer4"], blocks=[2, 0, 2])
    b = ProbeSettings(stages=("layer3", "layer4"), blocks=(0, 2))
    assert a == b and hash(a) == hash(b)
    assert a.stages == ("layer3", "layer4") and a.blocks == (0, 2)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ProbeSettings().p = 0.2  # type: ignore[misc]


def test_from_schedule_takes_p_from_the_step() -> None:
    sched = LinearSchedule(start_keep=1.0, end_keep=0.8, total_steps=100)
    s = ProbeSettings.from_schedule(sched, 50, method="dropout", stages=("layer4",))
    assert s.p == pytest.approx(0.1) and s.method == "dropout" and s.stages == ("layer4",)
    assert ProbeSettings.from_schedule(sched, 0).p == 0.0
    with pytest.raises(ValueError, match="p"):
        ProbeSettings.from_schedule(sched, 10, p=0.3)
    with pytest.raises(ValueError, match="LinearSchedule"):
        ProbeSettings.from_schedule(0.9, 10)  # type: ignore[arg-type]
