"""Shared test helpers."""

from __future__ import annotations

import html
import re
from dataclasses import fields
from typing import Any

import pytest
import torch

import models
from dropcore.probe import ProbeResult


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    """A random-init ResNet-18 of the test module's own (a module may check it stays
    untouched, so none is shared across modules)."""
    return models.load("resnet18", "random", "cpu").model


@pytest.fixture()
def gen() -> torch.Generator:
    """A CPU generator with a fixed seed, so statistical tests are reproducible."""
    return torch.Generator().manual_seed(1234)


def maps_for(height: int, width: int, elements: int = 1 << 21, minimum: int = 256) -> int:
    """Number of independent H x W maps giving about ``elements`` cells.

    2M cells keeps the standard error of a measured drop fraction below 0.0025 for every
    geometry tested (worst case: one 7x7 block per 7x7 map, where a map's fraction has
    variance p(1-p) and 2M/49 = 42k maps give sd = sqrt(0.1875 / 42k) = 0.0021), so a 0.01
    tolerance is over 4 standard deviations.
    """
    return max(minimum, elements // (height * width))


def result_tensors(result: ProbeResult) -> list[torch.Tensor | None]:
    """Every tensor of a probe result, the sites' masks and activations included."""
    out = [
        getattr(result, f.name)
        for f in fields(result)
        if isinstance(getattr(result, f.name), torch.Tensor)
    ]
    for site in result.sites:
        out += [site.keep_mask, site.before, site.after]
    return out


def assert_same_result(a: ProbeResult, b: ProbeResult) -> None:
    """``a`` and ``b`` have the same target, sites and bit-identical tensors."""
    assert a.target == b.target and [s.name for s in a.sites] == [s.name for s in b.sites]
    for ta, tb in zip(result_tensors(a), result_tensors(b), strict=True):
        assert (ta is None and tb is None) or torch.equal(ta, tb)


_STAT = re.compile(r'<div data-stat="([^"]*)">.*?<div data-stat-value[^>]*>([^<]*)</div>', re.S)


def html_stats(body: str) -> dict[str, str]:
    """Label -> value of the headline numbers in ``body`` (:mod:`pages.ui.stat_html`)."""
    return {html.unescape(label): html.unescape(value) for label, value in _STAT.findall(body)}


def image_captions(at: Any) -> str:
    """Captions of an AppTest page's image elements and of its inline HTML figures
    (:mod:`pages.ui.pixel_html`), one per line."""
    inline = [
        html.unescape(c)
        for h in at.get("html")
        for c in re.findall(r"<figcaption[^>]*>([^<]*)</figcaption>", h.value)
    ]
    return "\n".join([img.caption for i in at.image for img in i.proto.imgs] + inline)
