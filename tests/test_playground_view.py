"""The Playground's page model: the numbers of the probe it came from, immutable throughout."""

from __future__ import annotations

import html
import io
from dataclasses import fields, is_dataclass

import numpy as np
import pytest
import torch
from PIL import Image

import models
from dropcore.probe import (
    ProbeSettings,
    cached_probe,
    drop_table,
    probe,
    site_names,
    topk_with_delta,
)
from models.images import SAMPLES, sample_image
from pages.ui import render
from pages.ui.pixel_html import data_uri
from pages.ui.playground_view import playground_view
from pages.ui.shared import baseline_of, shared
from pages.ui.views import baseline_pictures, cam_images, site_grid_png
from tests.conftest import html_stats

_LEAVES = (bytes, str, int, float, bool, type(None))


def immutable_problems(value: object, path: str = "view") -> list[str]:
    """Every place in ``value`` a session could change in place (empty: none)."""
    if isinstance(value, _LEAVES):
        return []
    if isinstance(value, tuple):
        return [p for i, v in enumerate(value) for p in immutable_problems(v, f"{path}[{i}]")]
    if is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return [f"{path}: {type(value).__name__} is not frozen"]
        return [
            p
            for f in fields(value)
            for p in immutable_problems(getattr(value, f.name), f"{path}.{f.name}")
        ]
    return [f"{path}: {type(value).__name__} is mutable"]


@pytest.fixture(scope="module")
def loaded() -> models.LoadedModel:
    return models.load("resnet18", "random", device="cpu")


@pytest.mark.parametrize("method", ["drop_block", "dropout", "drop_connect", "drop_path", "none"])
def test_view_holds_the_probes_numbers_and_nothing_mutable(loaded, method: str) -> None:
    x = loaded.transform(sample_image(next(iter(SAMPLES))))
    settings = ProbeSettings(method=method, p=0.2, block_size=3, stages=("layer3",))
    site = site_names(loaded.model, settings)[0] if method != "none" else None
    result = probe(loaded.model, x, settings, seed=4, record={site} if site else False)
    view = playground_view(loaded, x, result, site)

    assert immutable_problems(view) == []
    record = result.site(site) if site else None
    assert view.fingerprint == render.fingerprint(result, record)
    assert view.top5 == tuple(
        topk_with_delta(result.baseline_logits, result.logits, 5, loaded.categories)
    )
    assert view.drops == tuple(drop_table(result))
    for entry in view.top5:  # every class and its probabilities, as shown
        assert html.escape(entry.name) in view.prediction_html
        assert (
            f"{entry.prob:.3f}" in view.prediction_html
            and f"{entry.delta:+.3f}" in view.prediction_html
        )
    for row in view.drops:
        assert row.site in view.drops_html and f"{row.measured_drop:.3f}" in view.drops_html
    # The header row, then one row per class and per site.
    assert view.prediction_html.count("<tr>") == 1 + len(view.top5)  # the table alone
    assert view.drops_html.count("<tr>") == 1 + len(view.drops)
    assert view.elapsed_s == result.elapsed_s
    if record is None:
        assert view.site is None and view.pictures is None and view.drops == ()
        assert view.site_stats_html == ""
    else:
        assert (view.site.target_p, view.site.measured_drop) == (  # type: ignore[union-attr]
            record.target_p,
            record.measured_drop,
        )
        assert html_stats(view.site_stats_html) == {
            "target p": f"{record.target_p:.3f}",
            "expected": f"{record.expected_drop:.3f}",
            "measured": f"{record.measured_drop:.3f}",
        }
        assert view.pictures is not None
        assert_site_pictures_show(record, view.pictures)
    assert view.flipped == bool(
        torch.ne(result.baseline_logits.argmax(-1), result.logits.argmax(-1)).any()
    )
    # The prediction section: the top-5 table beside the two numbers it summarises.
    assert html_stats(view.prediction_html) == {
        "top-1 changed": "yes" if view.flipped else "no",
        "KL(baseline ‖ draw)": f"{view.kl:.4f}",
    }


def assert_site_pictures_show(record, pictures) -> None:  # noqa: ANN001
    """The inline pictures are the recorded tensors' cells: the strips' tiles are the
    before / mask / after of the listed channels, and the download enlarges them."""
    before, hw = record.before.float(), tuple(record.before.shape[-2:])
    tiles = []
    for png, size in zip(pictures.strips, pictures.tile_sizes, strict=True):
        with Image.open(io.BytesIO(png)) as strip:
            tiles.append(render.strip_tiles(strip, size))
        assert data_uri(png) in pictures.grid_html
    assert len(tiles) == 3
    for j, c in enumerate(pictures.grid_channels):
        vmax = float(before[c].max())
        expected = (
            render.activation_tile(before[c], vmax, size=None),
            render.mask_tile(render.mask_plane(record.keep_mask, c, hw), size=None),
            render.activation_tile(record.after[c].float(), vmax, size=None),
        )
        for row in range(3):
            assert np.array_equal(np.array(tiles[row][j]), np.array(expected[row]))
    for png in (pictures.mask, pictures.before, pictures.after):
        assert data_uri(png) in pictures.large_html
    assert ", ".join(map(str, pictures.grid_channels)) in pictures.grid_html
    with Image.open(io.BytesIO(site_grid_png(pictures))) as grid:
        cell = max(max(w, h) * max(1, 96 // max(w, h)) for w, h in pictures.tile_sizes)
        assert grid.height == 3 * (cell + 4) + 4


def test_the_immutability_check_finds_mutable_parts() -> None:
    from dataclasses import dataclass

    @dataclass
    class Loose:
        items: list[int]

    assert immutable_problems((b"ok", 1.0, None)) == []
    assert immutable_problems(Loose([1])) == ["view: Loose is not frozen"]
    assert immutable_problems(([1],)) == ["view[0]: list is mutable"]
    assert immutable_problems(torch.zeros(1)) == ["view: Tensor is mutable"]


def test_baseline_pictures_are_one_shared_value_for_every_setting(loaded) -> None:
    x = loaded.transform(sample_image(next(iter(SAMPLES))))
    made: list[int] = []

    def base_of(settings: ProbeSettings, seed: int):  # noqa: ANN202
        found = cached_probe(loaded.model, x, settings, seed=seed, record=False)
        assert found.key is not None

        def draw():  # noqa: ANN202
            made.append(1)
            return baseline_pictures(loaded, x, found.result)

        return found.result, shared(baseline_of(found.key), "test-baseline", draw)

    _, base = base_of(ProbeSettings(p=0.2, block_size=3, stages=("layer3",)), 0)
    second, again = base_of(ProbeSettings(method="dropout", p=0.4, stages=("layer2",)), 9)
    assert again is base and len(made) == 1  # one picture and CAM layer: drawn once
    assert not base.pixels.flags.writeable and immutable_problems(base.view) == []
    # The same pictures as drawing everything for the second setting.
    assert cam_images(loaded, x, second, base) == cam_images(loaded, x, second)
    _, other = base_of(ProbeSettings(p=0.2, stages=("layer3",), cam_layer="layer3"), 0)
    assert other is not base and len(made) == 2  # another CAM layer: its own baseline
    assert other.baseline != base.baseline and other.view == base.view
