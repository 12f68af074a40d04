"""The scaffold every page shares: title, link-problem notices, sidebar areas, teacher tools."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from . import catalog as c
from .controls import Panel, first_run_of_visit
from .presets import PRESETS, apply_preset

__all__ = ["lesson_presets", "page_panel"]


def _leave_legacy_page_mode() -> None:
    """Make sure the page runs inside the frame (app.py), not on its own.

    Because this folder is called ``pages/``, Streamlit starts every process in its legacy
    multipage mode, which runs ``pages/<name>.py`` directly when the first request is a
    deep link (``/compare?...``), skipping app.py's navigation, model status and random-
    weights banner. ``st.navigation`` turns that mode off for the whole process, but only
    once app.py has run. Turning it off here and rerunning runs app.py instead; the URL
    paths in app.py equal the file names, so the rerun lands on the same page.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_panel(page: str, title: str, intro: str, *, presets: bool = False) -> Panel:
    """Title and intro in the main area, and a :class:`Panel` drawing into the sidebar.

    The sidebar is laid out top to bottom as: lesson presets (if ``presets``; the page
    draws them with :func:`lesson_presets`), controls, controls fixed by the teacher
    (collapsed), teacher tools. The teacher's choice is drawn first because it decides
    which controls are fixed.
    """
    _leave_legacy_page_mode()
    st.title(title)
    st.markdown(intro)
    notices = st.container()
    with st.sidebar:
        preset_area = st.container()
        controls = st.container()
        locked_slot = st.container()
        teacher = st.container()
    panel = Panel(
        check_link=first_run_of_visit(page),
        area=controls,
        notices=notices,
        locked_area=lambda: locked_slot.expander("Fixed for this lesson", icon=":material/lock:"),
        presets_area=preset_area if presets else None,
    )
    teacher_box = teacher.expander("For teachers", icon=":material/school:")
    panel.locked = frozenset(panel(c.FIX, area=teacher_box))
    teacher_box.caption(
        "Every control lives in the page address: copy it from the address bar to share "
        "exactly this view (same image, settings, seed, masks)."
    )
    return panel


def lesson_presets(panel: Panel) -> None:
    """The lesson presets, at the top of the sidebar, if ``panel``'s page offers them.

    A page draws them in the same fragment as the controls they set, so that applying one
    reruns only that fragment. They are hidden once a teacher fixed anything, since they
    would change fixed values.
    """
    if panel.presets_area is None or panel.locked:
        return
    panel.presets_area.pills(
        "Lesson presets",
        [p.name for p in PRESETS],
        key="preset",
        on_change=_apply_and_clear,
        help="\n".join(f"- **{p.name}**: {p.description}" for p in PRESETS),
    )


def _apply_and_clear() -> None:
    apply_preset(st.session_state.get("preset"))
    # A preset is an action, not a state: deselect so the same one can be applied again.
    st.session_state["preset"] = None
