"""Charts of the Train page: learning curves with a band over seeds, and per-variant bars.

Layout only: the means and spreads come from :mod:`dropcore.train.summary`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from dropcore.train.summary import Curve, MeanSd

__all__ = ["VARIANT_COLORS", "color_of", "curve_figure", "spread_bars"]

# One colour per variant, in the order the plan lists them (Plotly's D3 palette).
VARIANT_COLORS: tuple[str, ...] = (
    "#7f7f7f",
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
)


def color_of(index: int) -> str:
    """The colour of the ``index``-th variant."""
    return VARIANT_COLORS[index % len(VARIANT_COLORS)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, y_title: str, height: int) -> None:
    # Title on top, then the legend in its own band (about four entries a row), so that
    # neither overlaps the other or the plot, however many variants there are.
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    top = 36 + 24 * math.ceil(entries / 4)
    fig.update_layout(
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "top",
            "pad": {"t": 8},
        },
        height=height + top,
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "xanchor": "left"},
        yaxis_title=y_title,
        hovermode="x unified",
    )


def curve_figure(
    labels: Sequence[str],
    solid: Sequence[Curve],
    dashed: Sequence[Curve],
    *,
    title: str,
    y_title: str,
    epochs: int,
    y_format: str = ".3f",
    height: int = 300,
) -> go.Figure:
    """Per-variant curves over epochs: ``solid`` (validation) and ``dashed`` (training),
    each the mean over seeds with a band of ± one standard deviation.

    Variants keep their colour by their position in ``labels``, whatever has arrived.
    """
    fig = go.Figure()
    for curves, dash, kind in ((dashed, "dash", "train"), (solid, "solid", "val")):
        for curve in curves:
            color = color_of(list(labels).index(curve.label))
            x = list(curve.epochs)
            if any(curve.sd):
                upper = [m + s for m, s in zip(curve.mean, curve.sd, strict=True)]
                lower = [m - s for m, s in zip(curve.mean, curve.sd, strict=True)]
                fig.add_trace(
                    go.Scatter(
                        x=x + x[::-1],
                        y=upper + lower[::-1],
                        fill="toself",
                        mode="lines",
                        line={"width": 0},
                        fillcolor=_rgba(color, 0.15),
                        hoverinfo="skip",
                        showlegend=False,
                        legendgroup=curve.label,
                    )
                )
            # One legend entry per variant (its colour); solid/dashed is in the title.
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=list(curve.mean),
                    mode="lines+markers",
                    name=curve.label,
                    showlegend=kind == "val",
                    legendgroup=curve.label,
                    line={"color": color, "dash": dash, "width": 2},
                    marker={"size": 5},
                    customdata=list(curve.sd),
                    hovertemplate=f"{kind} %{{y:{y_format}}} ± %{{customdata:{y_format}}}",
                )
            )
    fig.update_xaxes(title="epoch", range=[0.8, max(epochs, 1) + 0.2], dtick=max(1, epochs // 10))
    _layout(fig, title, y_title, height)
    return fig


def spread_bars(
    labels: Sequence[str],
    values: Sequence[MeanSd],
    *,
    title: str,
    y_title: str,
    y_format: str = ".3f",
    height: int = 320,
) -> go.Figure:
    """One bar per variant (mean) with an error bar of ± one standard deviation."""
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=[v.mean for v in values],
            error_y={"type": "data", "array": [v.sd for v in values], "visible": True},
            marker_color=[color_of(i) for i in range(len(labels))],
            customdata=[[v.sd, v.n] for v in values],
            texttemplate=f"%{{y:{y_format}}}",
            textposition="inside",
            hovertemplate=(
                f"%{{x}}: %{{y:{y_format}}} ± %{{customdata[0]:{y_format}}} "
                "(%{customdata[1]} seeds)<extra></extra>"
            ),
        )
    )
    fig.update_traces(showlegend=False)
    _layout(fig, title, y_title, height)
    fig.update_layout(hovermode="closest")
    return fig
