"""A change to Flet 1.0.5's bookkeeping that every session's memory pays for.

Flet validates a control each time it is sent, and to report a repeated validation error only
once it gives every control a set of the errors it reported: an empty set of 216 bytes on each
of the 650 controls of a 40-bed rounds screen, about a sixth of what a session keeps in the
server's memory (tests/scale/test_rounds_memory.py). `share_one_error_memory` puts one shared,
always empty stand-in on the control class instead, which Flet finds before it would make a set.
The only difference in behaviour: a control that fails validation fails every time it is sent,
not only the first (Rounds sends no invalid control; a test would catch one).

The name of the attribute is private to Flet; tests/ui/test_flet_tuning.py shows whether an
upgrade still uses it.
"""

from flet.controls.base_control import BaseControl
from flet.utils import validation


class _RemembersNothing:
    """Flet's per-control set of reported errors, always empty: every error is raised."""

    __slots__ = ()

    def __contains__(self, _signature: object) -> bool:
        return False

    def __bool__(self) -> bool:
        return False

    def add(self, _signature: object) -> None:
        pass

    def clear(self) -> None:
        pass


def share_one_error_memory() -> None:
    """Stop Flet from keeping a set of reported validation errors on every control."""
    setattr(BaseControl, validation._REPORTED_VALIDATION_ERRORS_KEY, _RemembersNothing())
