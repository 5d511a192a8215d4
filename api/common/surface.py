"""What an API surface registers with the app: its router, its OpenAPI tags and its request gates.

Each surface package exports one ``ApiSurface`` (``api/<surface>/router.py``, ``surface``) and
``api/surfaces.py`` lists them; ``api/app.py`` includes every router, tag and gate from that
list and knows no surface's routes itself.

Authentication is two steps, both declared by the surface: ``gates`` name the credentials a path
needs, checked before its body is read (``api.common.gates``; a path no gate names needs the bearer
token), and each route's dependencies check the scopes it needs (``api.common.deps``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from api.common.gates import Gate


@dataclass(frozen=True)
class ApiSurface:
    name: str
    #: Every route of the surface, under the surface's prefix.
    router: APIRouter
    #: OpenAPI tag descriptions (``{"name", "description"}``) of the tags its routes use, in display order.
    tags: Sequence[Mapping[str, Any]] = ()
    #: Gates by path prefix (``api.common.gates.GateTable``): the paths that need other credentials than
    #: the bearer token.
    gates: Mapping[str, Gate] = field(default_factory=dict)
