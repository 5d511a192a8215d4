"""What an API surface registers with the app: its router, its OpenAPI tags, its request gates, the
credentials its routes read, and how the operator surface reads the jobs on its task queue.

Each surface package exports one ``ApiSurface`` (``api/<surface>/router.py``, ``surface``) and
``api/surfaces.py`` lists them; ``api/app.py`` includes every router, tag, gate and security scheme
from that list and knows no surface's routes or credentials itself.

Authentication is two steps, both declared by the surface: ``gates`` name the credentials a path
needs, checked before its body is read (``api.common.gates``; a path no gate names needs the bearer
token), and each route's dependencies check the scopes it needs (``api.common.deps``). The OpenAPI
document names each credential by its ``SecurityScheme``; a scheme whose setting is off in this
deployment is documented as optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from api.common.gates import Gate
from api.common.jobs import SurfaceJobs
from api.common.openapi import SecurityScheme


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
    #: The credentials its routes and gates name, besides the app's bearer token.
    security_schemes: Sequence[SecurityScheme] = ()
    #: How ``GET /queues/jobs`` (the operator surface) names and shows the jobs on its task queue.
    jobs: SurfaceJobs | None = None
