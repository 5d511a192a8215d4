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
