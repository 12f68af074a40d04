"""URL-bound controls: one declarative spec per control, its widget, and its link check.

Every control is a Streamlit widget with ``bind="query-params"``, keyed by a short URL
parameter name, so a copied link reproduces exactly what the sender saw. Streamlit silently
replaces an invalid link value by the default; :class:`Panel` checks the raw value first
and collects a message saying what was wrong and what is used instead.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

__all__ = [
    "Callback",
    "Choice",
    "Control",
    "Flag",
    "Multi",
    "Number",
    "Panel",
    "Slider",
    "first_run_of_visit",
]


Callback: TypeAlias = Callable[[], None]


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, kw_only=True)
class Control(ABC):
    """What every control has: URL key (also the session-state key), label, help, group.

    ``group`` names the set of controls a teacher can hide together (see :class:`Panel`).
    Each kind of control declares its draw-time overrides by name (a slider's ``hi``, a
    choice's ``options``) in its own methods, so any other keyword is a TypeError and a
    misspelt override cannot be silently ignored. The methods below are declared with
    ``(*args: Any, **kwargs: Any)`` for that reason: the one signature a type checker lets
    every kind narrow to its own keywords.
    """

    key: str
    label: str
    help: str
    group: str

    @abstractmethod
    def url_problem(self, *args: Any, **kwargs: Any) -> str | None:
        """``(raw: list[str], **overrides)``: why the link's value(s) for this control are
        unusable, or None if they are fine."""

    @abstractmethod
    def widget(self, *args: Any, **kwargs: Any) -> Any:
        """``(*, disabled: bool, on_change: Callback | None = None, **overrides)``: draw the
        widget in the current container and return its value.

        ``on_change`` runs when the user changes it, before the rerun it causes.
        """

    def from_state(self, *args: Any, **kwargs: Any) -> Any:
        """``(value, **overrides)``: the widget's session-state ``value`` as :meth:`widget`
        returns it."""
        return args[0]

    @abstractmethod
    def default_value(self, *args: Any, **kwargs: Any) -> Any:
        """``(**overrides)``: the default, after any bounds given at draw time."""

    def describe(self, value: Any) -> str:
        """A widget value as a person reads it (used in link-problem messages)."""
        return _fmt(value)


@dataclass(frozen=True, kw_only=True)
class Slider(Control):
    """A number slider; ``hi`` may be overridden at draw time (e.g. step <= total steps)."""

    lo: float
    hi: float
    default: float
    step: float
    fmt: str | None = None

    @property
    def integral(self) -> bool:
        return all(isinstance(v, int) for v in (self.lo, self.hi, self.default, self.step))

    def bounds(self, hi: float | None = None) -> tuple[float, float]:
        return self.lo, self.hi if hi is None else hi

    def default_value(self, hi: float | None = None) -> float:
        lo, top = self.bounds(hi)
        return min(max(self.default, lo), top)

    def url_problem(self, raw: list[str], hi: float | None = None) -> str | None:
        lo, top = self.bounds(hi)
        text = raw[-1]
        try:
            value = float(text)
        except ValueError:
            return f"`{self.key}={text}` is not a number"
        if not math.isfinite(value) or not lo <= value <= top:
            return f"`{self.key}={text}` is outside {_fmt(lo)}..{_fmt(top)}"
        if self.integral and not value.is_integer():
            return f"`{self.key}={text}` is not a whole number"
        return None

    def widget(
        self, *, disabled: bool, on_change: Callback | None = None, hi: float | None = None
    ) -> float:
        lo, top = self.bounds(hi)
        return st.slider(
            self.label,
            min_value=lo,
            max_value=top,
            value=self.default_value(hi),
            step=self.step,
            format=self.fmt,
            key=self.key,
            help=self.help,
            disabled=disabled,
            on_change=on_change,
            bind="query-params",
        )


@dataclass(frozen=True, kw_only=True)
class Number(Control):
    """An integer entry box, for wide ranges where a slider is useless (seed, steps)."""

    lo: int
    hi: int
    default: int
    step: int = 1

    def default_value(self) -> int:
        return self.default

    def url_problem(self, raw: list[str]) -> str | None:
        text = raw[-1]
        try:
            value = int(text)
        except ValueError:
            return f"`{self.key}={text}` is not a whole number"
        if not self.lo <= value <= self.hi:
            return f"`{self.key}={text}` is outside {self.lo}..{self.hi}"
        return None

    def widget(self, *, disabled: bool, on_change: Callback | None = None) -> int:
        return int(
            st.number_input(
                self.label,
                min_value=self.lo,
                max_value=self.hi,
                value=self.default,
                step=self.step,
                key=self.key,
                help=self.help,
                disabled=disabled,
                on_change=on_change,
                bind="query-params",
            )
        )

    def from_state(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True, kw_only=True)
class Flag(Control):
    """An on/off toggle."""

    default: bool

    def default_value(self) -> bool:
        return self.default

    def describe(self, value: Any) -> str:
        return "on" if value else "off"

    def url_problem(self, raw: list[str]) -> str | None:
        if raw[-1].lower() not in ("true", "false"):
            return f"`{self.key}={raw[-1]}` is not true or false"
        return None

    def widget(self, *, disabled: bool, on_change: Callback | None = None) -> bool:
        return st.toggle(
            self.label,
            value=self.default,
            key=self.key,
            help=self.help,
            disabled=disabled,
            on_change=on_change,
            bind="query-params",
        )


@dataclass(frozen=True, kw_only=True)
class Choice(Control):
    """One of ``options``; links carry the option's label (``labels`` maps value -> label).

    ``style`` picks the widget: ``"select"`` (drop-down) or ``"segmented"`` (buttons).
    ``options`` may be replaced at draw time (e.g. the sites of the current result).
    """

    options: tuple[str, ...]
    default: str
    labels: Mapping[str, str] = field(default_factory=dict)
    style: str = "select"

    def label_of(self, value: str) -> str:
        return self.labels.get(value, value)

    def default_value(self, options: Sequence[str] | None = None) -> str:
        opts = tuple(options) if options is not None else self.options
        return self.default if self.default in opts else opts[0]

    def describe(self, value: Any) -> str:
        return self.label_of(value)

    def url_problem(self, raw: list[str], options: Sequence[str] | None = None) -> str | None:
        opts = tuple(options) if options is not None else self.options
        labels = [self.label_of(o) for o in opts]
        if raw[-1] not in labels:
            return f"`{self.key}={raw[-1]}` is not one of {', '.join(labels)}"
        return None

    def widget(
        self,
        *,
        disabled: bool,
        on_change: Callback | None = None,
        options: Sequence[str] | None = None,
    ) -> str:
        opts = tuple(options) if options is not None else self.options
        default = self.default_value(opts)
        common: dict[str, Any] = {
            "format_func": self.label_of,
            "key": self.key,
            "help": self.help,
            "disabled": disabled,
            "on_change": on_change,
            "bind": "query-params",
        }
        if self.style == "segmented":
            chosen = st.segmented_control(
                self.label, opts, default=default, required=True, **common
            )
        else:
            chosen = st.selectbox(self.label, opts, index=opts.index(default), **common)
        return default if chosen is None else chosen

    def from_state(self, value: Any, options: Sequence[str] | None = None) -> str:
        return self.default_value(options) if value is None else value


@dataclass(frozen=True, kw_only=True)
class Multi(Control):
    """Any subset of ``options``; a link repeats the key once per chosen option."""

    options: tuple[str, ...]
    default: tuple[str, ...]

    def default_value(self) -> tuple[str, ...]:
        return self.default

    def describe(self, value: Any) -> str:
        return ", ".join(value) or "none"

    def url_problem(self, raw: list[str]) -> str | None:
        unknown = [v for v in raw if v not in self.options]
        if not unknown:
            return None
        names = ", ".join(f"`{v}`" for v in unknown)
        if len(unknown) < len(raw):
            return f"`{self.key}`: ignored {names} (not one of {', '.join(self.options)})"
        return f"`{self.key}`: {names} is not one of {', '.join(self.options)}"

    def widget(self, *, disabled: bool, on_change: Callback | None = None) -> tuple[str, ...]:
        chosen = st.multiselect(
            self.label,
            self.options,
            default=list(self.default),
            key=self.key,
            help=self.help,
            disabled=disabled,
            on_change=on_change,
            bind="query-params",
        )
        return tuple(chosen)

    def from_state(self, value: Any) -> tuple[str, ...]:
        return tuple(value)


def first_run_of_visit(page: str) -> bool:
    """True on the first run after arriving at ``page`` (load, reload or navigation)."""
    arrived = st.session_state.get("_droplab_page") != page
    st.session_state["_droplab_page"] = page
    return arrived


class Panel:
    """Draws controls, checking each one's link value before Streamlit consumes it.

    Link values are checked only when ``check_link`` is true, which pages set on the first
    run of a page visit: later in the visit the URL can hold a value that a change of
    another control made stale (a site of a stage no longer chosen), and the person who
    made that change needs no warning about it.

    Controls go into ``area`` unless the call names another. Controls whose ``group`` is
    in ``locked`` are drawn disabled inside the container ``locked_area()`` returns (made
    on first use): a teacher can fix them for a class while their values stay bound to the
    URL (a control that is not drawn at all would drop its URL parameter).
    """

    def __init__(
        self,
        *,
        check_link: bool,
        area: DeltaGenerator,
        notices: DeltaGenerator,
        locked: frozenset[str] = frozenset(),
        locked_area: Callable[[], DeltaGenerator] | None = None,
        presets_area: DeltaGenerator | None = None,
    ) -> None:
        self.problems: list[str] = []
        self.check_link = check_link
        self.area = area
        self.notices = notices
        self.locked = locked
        self._locked_area = locked_area
        # Where the page's lesson presets go (None: the page offers none).
        self.presets_area = presets_area
        self._locked_box: DeltaGenerator | None = None
        self._fragment_runs = 0

    def __call__(
        self,
        control: Control,
        *,
        area: DeltaGenerator | None = None,
        disabled: bool = False,
        on_change: Callback | None = None,
        **dynamic: Any,
    ) -> Any:
        """Draw ``control`` (``dynamic`` overrides bounds/options) and return its value.

        ``on_change`` replaces the rerun a change causes (e.g. one that reruns only the
        part of the page showing results); a teacher-fixed control cannot change.
        """
        raw = st.query_params.get_all(control.key) if self.check_link else []
        problem = control.url_problem(raw, **dynamic) if raw else None
        locked = control.group in self.locked
        place = self._locked_container() if locked else (area or self.area)
        with place:
            value = control.widget(disabled=locked or disabled, on_change=on_change, **dynamic)
        if problem:
            # Report what the widget really took instead (Streamlit's own fallback).
            self.problems.append(f"{control.label}: {problem}; using {control.describe(value)}.")
        return value

    def value(self, control: Control, **dynamic: Any) -> Any:
        """``control``'s current value, read without drawing it (as its widget returns it).

        For a rerun of the part of a page that shows results: the controls it reads were
        drawn by an earlier run, and a change to one is already in the session state.
        """
        state = st.session_state
        if control.key not in state:
            return control.default_value(**dynamic)
        return control.from_state(state[control.key], **dynamic)

    def for_fragment(self) -> Panel:
        """A panel for one run of an ``st.fragment`` that draws into this panel's areas.

        A fragment rerun reuses the objects of the full run that made this panel. So the
        first call (that full run) checks the link as this panel does and carries its
        problems on; later calls are fragment reruns, later in the visit: they check
        nothing and start with no problems, as a full rerun would.
        """
        first = self._fragment_runs == 0
        self._fragment_runs += 1
        child = Panel(
            check_link=self.check_link and first,
            area=self.area,
            notices=self.notices,
            locked=self.locked,
            locked_area=self._locked_area,
            presets_area=self.presets_area,
        )
        child._locked_box = self._locked_box  # one "fixed" box, whoever opened it
        if first:
            child.problems = list(self.problems)
        return child

    def shows(self, *groups: str) -> bool:
        """Whether any of ``groups`` is drawn in the normal area (not fixed by a teacher)."""
        return any(g not in self.locked for g in groups)

    def _locked_container(self) -> DeltaGenerator:
        if self._locked_box is None:
            if self._locked_area is None:
                raise RuntimeError("Panel has locked groups but no locked_area")
            self._locked_box = self._locked_area()
        return self._locked_box

    def show_problems(self) -> None:
        """One warning (in ``notices``) listing every unusable link value seen so far."""
        if self.problems:
            self.notices.warning(
                "Some values in this link could not be used:\n\n"
                + "\n".join(f"- {p}" for p in self.problems),
                icon=":material/link_off:",
            )
