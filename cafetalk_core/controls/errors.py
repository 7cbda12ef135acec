"""One exception type for bad controls, so the server maps it to 422 and the add-on to a report."""
from __future__ import annotations


class ControlError(ValueError):
    """A control that cannot be used. ``field`` names the offending field (``fine[2].end_s``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
