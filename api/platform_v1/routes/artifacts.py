"""``GET /artifacts/{id}``: an artifact's bytes, for whoever may read the workspace's executions (export files
only for ``msp_admin`` and ``data_admin``); ``410 gone`` after ``CAPSTAN_ARTIFACT_RETENTION_DAYS``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.common.deps import SessionDep, SettingsDep
from api.common.errors import ApiError, Forbidden, NotFound
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.connections import hand_back
from integrations.stores.platform_executions import artifact_of
from models.common.base import utcnow
from models.platform_v1.roles import Role

router = APIRouter(tags=["executions"])

#: Who may read an export file, an import's records or an accounting answer (other artifacts: whoever may read
#: the workspace's executions): they hold records of any kind, financial ones too.
EXPORT_READERS = frozenset({Role.MSP_ADMIN, Role.DATA_ADMIN})
DATA_KINDS = frozenset({"export", "import", "accounting"})


class Gone(ApiError):
    status_code, code = 410, "gone"


class ArtifactBytes(Response):
    """An artifact's bytes, in its own content type (JSON for execution payloads and evidence)."""

    media_type = "application/octet-stream"


@platform_route(router, "GET", f"{V1}/artifacts/{{artifact_id}}", summary="An artifact's bytes",
                description="`Content-Type` as stored (`application/json` for execution inputs, outputs and "
                            "evidence), `ETag: \"<sha256 hex>\"`; `If-None-Match` with it → 304.",
                response_class=ArtifactBytes, response_model=bytes,
                responses={304: {"description": "Not modified (`If-None-Match`)"},
                           404: {"description": "`not_found`: no such artifact in this workspace"},
                           410: {"description": "`gone`: older than CAPSTAN_ARTIFACT_RETENTION_DAYS"}})
async def get_artifact(artifact_id: Annotated[str, Path(max_length=64, description="`art_` + 32 hex digits.")],
                       request: Request, caller: CallerDep, db: SessionDep, settings: SettingsDep) -> Response:
    row = await artifact_of(db, caller.tenant, artifact_id)
    await hand_back(db)
    if row is None:
        raise NotFound(f"no artifact {artifact_id}", code="not_found")
    if row.created_at < utcnow() - timedelta(days=settings.platform.artifact_retention_days):
        raise Gone(f"artifact {artifact_id} is older than the retention of "
                   f"{settings.platform.artifact_retention_days:g} days")
    if row.kind in DATA_KINDS and not caller.principal.roles & EXPORT_READERS:
        raise Forbidden(f"{row.kind} files are readable by msp_admin and data_admin only", code="forbidden_role")
    etag = f'"{row.sha256}"'
    headers = {"ETag": etag}
    if row.kind == "export":
        headers["Content-Disposition"] = f'attachment; filename="{row.id}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(row.content, headers=headers, media_type=row.content_type)
