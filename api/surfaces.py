"""Every API surface the app serves; ``api/app.py`` includes their routers, tags and gates in this order."""

from __future__ import annotations

from api.common.surface import ApiSurface
from api.maintenance.router import surface as maintenance
from api.ops.router import surface as ops
from api.platform_v1.router import surface as platform_v1
from api.protocols.router import surface as protocols
from api.tasks.router import surface as tasks

API_SURFACES: list[ApiSurface] = [ops, protocols, maintenance, tasks, platform_v1]
