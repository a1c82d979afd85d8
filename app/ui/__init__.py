"""Rounds' Flet screens.

Importing the package tunes Flet for many sessions on one server (app/ui/flet_tuning.py), so the
server, the screen tests and the memory tests all run the same controls.
"""

from app.ui.flet_tuning import share_one_error_memory

share_one_error_memory()
