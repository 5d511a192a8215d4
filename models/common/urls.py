"""The one rule for a URL Capstan calls on someone's say-so (an agent node, an accounting or notification
adapter): http or https with a host and a valid port, no userinfo (credentials belong in the workspace's
secrets, never in a URL that records, settings and logs show), no spaces or control characters, at most
``OUTSIDE_URL_MAX_LENGTH`` characters. Settings and bodies validate with it on the way in; the clients check
it again before they connect, since a stored value may predate the rule."""

from __future__ import annotations

from urllib.parse import urlsplit

OUTSIDE_URL_MAX_LENGTH = 2000


def outside_url_problem(url: object) -> str | None:
    """Why ``url`` is not one Capstan calls (a phrase that completes "the URL …"), or ``None`` when it is."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    if len(url) > OUTSIDE_URL_MAX_LENGTH:
        return f"must be at most {OUTSIDE_URL_MAX_LENGTH} characters"
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError as error:
        return f"is not a URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "must be http or https"
    if not parts.hostname or not port_ok:
        return "needs a host (and a valid port)"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not hold credentials (userinfo); keep them in the workspace's secrets"
    return None
