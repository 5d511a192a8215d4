"""The JSON body of a route that validates it itself, read with its numbers exact.

FastAPI parses a body with ``json.loads``, which makes ``10.0000000000000001`` the float ``10.0`` before any
validator sees it. A route whose body can hold money reads it with ``ExactBody`` instead: the same strict reader
the middleware already held the body to, with every fraction a ``Decimal`` of its digits, so a number the
record could not keep exactly is refused (400) rather than rounded. Like FastAPI, only a body sent as JSON
(``application/json`` or ``…+json``) is parsed; any other is handed on as its bytes, which no JSON-object
body validates.
"""

from __future__ import annotations

import email.message
from typing import Annotated, Any

from fastapi import Depends, Request

from api.common.errors import BadRequest
from capstan.strict_json import JsonRejected, read_json


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def exact_json_body(request: Request) -> Any:
    """The body's JSON value with ``Decimal`` fractions; ``None`` without a body, its bytes when not JSON."""
    raw = await request.body()
    if not raw:
        return None
    if not _is_json(request.headers.get("content-type")):
        return raw
    try:
        return read_json(raw, exact_decimals=True)
    except JsonRejected as refused:  # the middleware refused it first; kept for a route mounted without it
        raise BadRequest(refused.detail, code=refused.code) from None


#: A route's JSON body, numbers exact (``Decimal``), for the route's service to validate.
ExactBody = Annotated[Any, Depends(exact_json_body)]
