"""The app factory and its lifespan: one engine and one Temporal client per process."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from api.common.auth import authenticator_from_token
from api.common.docs_pages import install_docs_pages
from api.common.errors import install_error_handlers
from api.common.gates import capstan_gates
from api.common.middleware import RequestGuardMiddleware
from api.common.openapi import BEARER_SCHEME, document_api
from api.surfaces import API_SURFACES
from capstan import __version__
from capstan.db import create_engine, create_session_factory
from capstan.secrets import SecretBox
from capstan.settings import Settings, get_settings
from capstan.telemetry import request_tracer, temporal_interceptors, tracer_provider
from capstan.temporal import connect
from models.common.settings import secret_value

log = logging.getLogger(__name__)

#: The OpenAPI document's description: what each part of the API serves (tags group the routes).
API_DESCRIPTION = """Capstan serves, behind one API:

- **protocol runs**, **maintenance attempts** and **coding tasks**: durable orchestration of code work on
  Temporal, with their webhooks and operator routes;
- the **platform API v1** (`/api/v1`): the multi-tenant API of a managed service provider's workspaces
  (JWT roles per workspace, `x-workspace-id`, `Idempotency-Key` on every mutation, list envelopes) over
  clients, assets, tickets, alerts, contracts, invoices and the other resources, workspace settings and
  sealed secrets, and the edge agent's policy and enrollment.

Every error has one shape: `{error, detail, request_id}`."""

@functools.cache
def freeze_startup_objects() -> None:
    """What the process built to start (modules, routes, models, their schemas) lives as long as it does:
    moved out of the collector's generations once, a full collection no longer walks it (0.2-0.4 ms of each
    request's CPU on the read paths, bench/reads.py). Collected first, so no garbage is kept for good."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, temporal_client=None,
               tracing: TracerProvider | None = None) -> FastAPI:
    """Build the API. Tests pass their own settings (and may pass a connected client or a tracer provider)."""
    settings = settings or get_settings()
    tracing = tracing or tracer_provider(settings.telemetry, "api")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database)
        app.state.engine = engine
        app.state.sessions = create_session_factory(engine)
        app.state.temporal = temporal_client or await connect(settings.temporal,
                                                              interceptors=temporal_interceptors(tracing))
        if settings.platform.auth_mode == "disabled":
            log.warning("CAPSTAN_AUTH_MODE=disabled: /api/v1 checks no token; every request acts as the local "
                        "principal with every role in every workspace. Never run this way where anyone else "
                        "can reach the API.")
        freeze_startup_objects()
        log.info("api ready: temporal %s namespace %s", settings.temporal.address, settings.temporal.namespace)
        try:
            yield
        finally:
            await engine.dispose()
            if tracing is not None:
                tracing.force_flush()

    app = FastAPI(
        title="Capstan",
        version=__version__,
        summary="Durable orchestration for code work (protocol runs, maintenance attempts, coding tasks) and the "
                "multi-tenant platform API v1 under /api/v1.",
        description=API_DESCRIPTION,
        openapi_tags=[dict(tag) for surface in API_SURFACES for tag in surface.tags],
        lifespan=lifespan,
        docs_url=None,  # served offline instead (api/common/docs_pages.py)
        redoc_url=None,
    )
    app.state.settings = settings
    token = settings.api.api_token.get_secret_value() if settings.api.api_token else None
    app.state.authenticator = authenticator_from_token(token)
    app.state.secret_box = SecretBox(secret_value(settings.secrets.key))
    install_error_handlers(app)
    default_openapi = app.openapi

    viewers = install_docs_pages(app)
    gates = app.state.gates = capstan_gates(app, (surface.gates for surface in API_SURFACES), viewers)
    schemes = [BEARER_SCHEME, *(scheme for surface in API_SURFACES for scheme in surface.security_schemes)]

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_api(default_openapi(), app.routes, schemes, settings, gates)
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.api.max_body_bytes,
                       tracer=request_tracer(tracing), gates=gates)
    for surface in API_SURFACES:
        app.include_router(surface.router)
    return app
