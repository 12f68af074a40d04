"""Plotly figure builders shared by the pages (layout only; data comes from dropcore).

Every chart has the modebar's camera button, which downloads it as a PNG in the browser
(no server-side image export needed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "CHART_CONFIG",
    "PALETTE",
    "FrozenFigure",
    "bars",
    "heatmap",
    "lines",
    "strip",
]

# Colour per series name, fixed so the same setting has the same colour on every page.
PALETTE: dict[str, str] = {
    "target": "#7f7f7f",
    "exact · uniform": "#1f77b4",
    "exact · valid": "#17becf",
    "paper · valid": "#ff7f0e",
    "paper · uniform": "#d62728",
    "baseline": "#7f7f7f",
    "regularized": "#1f77b4",
    "measured": "#1f77b4",
}

CHART_CONFIG: dict[str, object] = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


@dataclass(frozen=True)
class FrozenFigure:
    """A built figure as its JSON text: immutable, so one copy can serve every session.

    Building a small figure through plotly's validators takes ~17 ms of CPU, thawing a
    frozen one ~3 ms; pages keep the figures of a shared probe result frozen.
    """

    spec: bytes

    @classmethod
    def of(cls, fig: go.Figure) -> FrozenFigure:
        """Freeze ``fig`` (validated when it was built)."""
        return cls(pio.to_json(fig, validate=False).encode())

    def thaw(self) -> go.Figure:
        """A new figure equal to the frozen one (the caller may change it)."""
        # Skipping validation is safe: the spec came out of a validated figure.
        return go.Figure(json.loads(self.spec), _validate=False)


def _layout(fig: go.Figure, title: str | None, x_title: str, y_title: str, height: int) -> None:
    # Title on top, then the legend in one band between it and the plot, never overlapping.
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    # Plotly draws a legend for two or more traces, or for one that asks for it explicitly.
    legend = len(fig.data) > 1 or any(t.showlegend is True for t in fig.data)
    top = (34 if title else 8) + (22 * (1 + entries // 4) if legend else 0)
    fig.update_layout(
        title={
            "text": title,
            "y": 1.0,
            "yanchor": "top",
            "pad": {"t": 8},
            "x": 0,
            "xanchor": "left",
        }
        if title
        else None,
        height=height + top,
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
    )


def lines(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    x_title: str,
    y_title: str,
    title: str | None = None,
    dashed: Sequence[str] = ("target",),
    marker_x: float | None = None,
    y_format: str = ".3f",
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    y_range: tuple[float, float] | None = None,
    x_range: tuple[float, float] | None = None,
    height: int = 300,
) -> go.Figure:
    """Line chart of ``series`` over ``x``.

    ``points`` adds open markers (measurements); a points entry named like a series
    shares its colour and legend entry, any other name gets its own.
    """
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(ys),
                name=name,
                mode="lines",
                legendgroup=name,
                line={"color": PALETTE.get(name), "dash": "dash" if name in dashed else "solid"},
                hovertemplate=f"%{{x}}: %{{y:{y_format}}}<extra>{name}</extra>",
            )
        )
    for name, (px, py) in (points or {}).items():
        fig.add_trace(
            go.Scatter(
                x=list(px),
                y=list(py),
                name=name,
                mode="markers",
                legendgroup=name,
                showlegend=name not in series,
                marker={"color": PALETTE.get(name), "size": 7, "symbol": "circle-open"},
                hovertemplate=f"%{{x}}: %{{y:{y_format}}}<extra>{name}, measured</extra>",
            )
        )
    if marker_x is not None:
        fig.add_vline(x=marker_x, line={"color": "#444", "width": 1, "dash": "dot"})
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    _layout(fig, title, x_title, y_title, height)
    return fig


def heatmap(
    z: np.ndarray,
    *,
    title: str | None = None,
    zmin: float | None = None,
    zmax: float | None = None,
    colorscale: str = "Viridis",
    colorbar_title: str = "",
    z_format: str = ".3f",
    show_scale: bool = True,
    height: int = 300,
) -> go.Figure:
    """A matrix as a heatmap with row 0 at the top (image orientation)."""
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(z),
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            showscale=show_scale,
            colorbar={"title": colorbar_title, "thickness": 12},
            hovertemplate=f"row %{{y}}, col %{{x}}: %{{z:{z_format}}}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    _layout(fig, title, "", "", height)
    return fig


def bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    x_title: str = "",
    y_title: str = "",
    title: str | None = None,
    horizontal: bool = False,
    value_format: str = ".3f",
    show_text: bool | None = None,
    height: int = 280,
) -> go.Figure:
    """Grouped bars, one group per category and one bar per series.

    Values are printed on the bars unless there are too many to read (``show_text``
    overrides).
    """
    if show_text is None:
        show_text = len(categories) * len(series) <= 16
    fig = go.Figure()
    for name, values in series.items():
        vals = list(values)
        kwargs = (
            {"y": list(categories), "x": vals, "orientation": "h"}
            if horizontal
            else {"x": list(categories), "y": vals}
        )
        fig.add_trace(
            go.Bar(
                name=name,
                marker_color=PALETTE.get(name),
                texttemplate=f"%{{value:{value_format}}}" if show_text else None,
                textposition="auto" if show_text else "none",
                hovertemplate=f"%{{label}}: %{{value:{value_format}}}<extra>{name}</extra>",
                **kwargs,
            )
        )
    fig.update_layout(barmode="group")
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    _layout(fig, title, x_title, y_title, height)
    return fig


def strip(
    groups: Mapping[str, Sequence[float]],
    *,
    reference: Mapping[str, float] | None = None,
    x_title: str = "",
    y_title: str = "",
    title: str | None = None,
    height: int = 300,
) -> go.Figure:
    """Box plus every point per group (e.g. a class's probability in each draw).

    ``reference`` marks one value per group (e.g. the baseline probability) with a diamond.
    """
    fig = go.Figure()
    for name, values in groups.items():
        fig.add_trace(
            go.Box(
                y=list(values),
                name=name,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"size": 5, "opacity": 0.6},
                line={"width": 1},
                showlegend=False,
                hovertemplate="%{y:.3f}<extra>" + name + "</extra>",
            )
        )
    if reference:
        fig.add_trace(
            go.Scatter(
                x=list(reference),
                y=list(reference.values()),
                mode="markers",
                name="baseline",
                marker={
                    "symbol": "diamond",
                    "size": 11,
                    "color": PALETTE["baseline"],
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate="baseline %{y:.3f}<extra>%{x}</extra>",
            )
        )
    _layout(fig, title, x_title, y_title, height)
    return fig
