"""The one exception of the add-on: every failure reaches the artist as its message.

Operators catch :class:`CafeTalkError` and call ``self.report({'ERROR'}, str(err))``, so the
message must read well on its own in the status bar: say what was wrong and with which value.
"""
from __future__ import annotations


class CafeTalkError(Exception):
    """A failure the artist can act on (server message, bad input, missing data).

    ``status`` is the HTTP status when the server answered, else ``None``.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message
