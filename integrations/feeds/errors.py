"""The one error of reading a feed: every failure of a poll's read becomes it, with a message for the operator."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(://)[^/@\s]+@")


class FeedReadError(Exception):
    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


def without_credentials(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL in it masked."""
    return _USERINFO.sub(r"\1***@", text)


def printable(value: str, limit: int = 80) -> str:
    """``value`` quoted for a message that is stored and shown: at most ``limit`` characters, every NUL, lone
    surrogate and other unprintable character escaped (``repr``), so the message is always storable text."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


def storable_message(message: str) -> str:
    """A message whose text came partly from outside (a parser's or a server's words), made storable:
    a NUL or a lone surrogate is written as its escape."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
