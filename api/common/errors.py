"""One JSON error shape for every surface.

``{"error": <code>, "detail": <message>, "request_id": <id>}`` plus ``fields``
for validation failures. ``detail`` keeps FastAPI clients of the original
orchestrator working; ``error`` is the code clients of the other surfaces read.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from capstan.logs import request_id_var

log = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.headers = headers
        self.extra = extra or {}


class BadRequest(ApiError):
    status_code, code = 400, "bad_request"


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class NotFound(ApiError):
    status_code, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status_code, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status_code, code = 413, "payload_too_large"


class ServiceUnavailable(ApiError):
    status_code, code = 503, "service_unavailable"


class BadGateway(ApiError):
    status_code, code = 502, "bad_gateway"


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 422: "unprocessable", 429: "too_many_requests"}


def error_body(status_code: int, detail: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code or _STATUS_CODES.get(status_code, "error"), "detail": detail,
            "request_id": request_id_var.get(), **extra}


def error_response(status_code: int, detail: str, code: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status_code, detail, code, **extra), status_code=status_code, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        fields.append({"field": ".".join(loc), "message": err.get("msg", "invalid"), "type": err.get("type")})
    return fields


def _content_type_hint(request: Request, fields: list[dict[str, Any]]) -> str:
    """Why a body was not an object when the client sent it as something else than JSON: ``curl -d`` sends
    ``application/x-www-form-urlencoded`` unless told otherwise, and FastAPI then sees no JSON object at all."""
    content_type = request.headers.get("content-type", "")
    body_not_object = any(f["field"] == "body" for f in fields)
    if body_not_object and content_type and "json" not in content_type.lower():
        return f" (the body was sent as {content_type.split(';')[0]}: send it with Content-Type: application/json)"
    return ""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.detail, exc.code, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(400, f"invalid request: {summary}{_content_type_hint(request, fields)}",
                              "validation_error", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    # No handler for ``Exception``: Starlette would run it outside the request guard (no request
    # id), log the error twice and drop the connection. The guard answers unexpected errors.


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


class ErrorResponse(BaseModel):
    """The one error shape of every route."""

    error: str
    detail: str
    request_id: str
    fields: list[FieldError] | None = None

