"""Every API surface the app serves; ``api/app.py`` includes their routers, tags, gates and security
schemes in this order. The operator surface reads the jobs of the others as they declare them
(``ApiSurface.jobs``): this is the one place that hands them over."""

from __future__ import annotations

from api.common.surface import ApiSurface
from api.maintenance.router import surface as maintenance
from api.ops.router import ops_surface
from api.platform_v1.router import surface as platform_v1
from api.protocols.router import surface as protocols
from api.tasks.router import surface as tasks

_SURFACES: list[ApiSurface] = [protocols, maintenance, tasks, platform_v1]

API_SURFACES: list[ApiSurface] = [ops_surface([s.jobs for s in _SURFACES if s.jobs is not None]), *_SURFACES]
