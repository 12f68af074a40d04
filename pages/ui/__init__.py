"""Helpers shared by DropLab's pages (UI only; every number comes from dropcore/models).

This package sits under ``pages/`` but is never registered with ``st.navigation``, so it
is not a page.
"""
