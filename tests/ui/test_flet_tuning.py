"""Flet keeps no set of reported validation errors on each control once app.ui is imported
(app/ui/flet_tuning.py), and an invalid control is still refused every time it is sent."""

import flet as ft
import pytest
from flet.utils import validation
from flet.utils.validation import validate

import app.ui  # noqa: F401  (applies the tuning)


def test_flet_still_keeps_its_error_memory_under_the_name_we_replace() -> None:
    # If an upgrade renames it, the tuning silently stops saving memory: fail here instead.
    assert validation._REPORTED_VALIDATION_ERRORS_KEY == "__reported_validation_errors"


def test_a_valid_control_gets_no_set_of_its_own() -> None:
    text = ft.Text("Room 4")
    validate(text, suppress_repeated_errors=True)
    assert validation._REPORTED_VALIDATION_ERRORS_KEY not in vars(text)
    assert not any(isinstance(value, set) for value in vars(text).values())


def test_an_invalid_control_is_refused_every_time() -> None:
    text = ft.Text("Room 4", opacity=2)
    for _ in range(3):
        with pytest.raises(ValueError, match="opacity must be between"):
            validate(text, suppress_repeated_errors=True)
