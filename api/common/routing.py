"""Routes served under several methods (a documented POST and its original's PUT) as one operation each,
so the OpenAPI document has one distinct ``operationId`` per method."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter

F = TypeVar("F", bound=Callable[..., Any])


def route_per_method(router: APIRouter, path: str, methods: Iterable[str], **options: Any) -> Callable[[F], F]:
    """Register the decorated endpoint on ``path`` once per method (``operationId`` = ``<name>_<method>``)."""

    def register(endpoint: F) -> F:
        for method in methods:
            router.add_api_route(path, endpoint, methods=[method], operation_id=f"{endpoint.__name__}_{method.lower()}",
                                 **options)
        return endpoint

    return register
