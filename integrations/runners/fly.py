"""The ``fly`` runner and Fly setup checks: Fly Machines over their REST API (``CAPSTAN_FLY_API_URL``).

A run is one machine of the requesting user's app (their ``flyToken``/``flyAppName``), started from the
runner image with the runner contract's environment; the image clones, runs the agent, pushes and calls
back itself. Stop and timeout destroy it (``DELETE …?force=true``: Fly refuses to delete a running
machine without ``force``).

``validate_fly`` is the check behind ``PUT /api/config/fly`` and ``POST /api/config/validate/fly``: is the
token good, which app will runs use, and (``org`` mode) create that app when the token can.
The token only ever travels in the ``Authorization`` header; no message here carries it.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal
from urllib.parse import quote

import httpx

from integrations.http import outside_client
from models.tasks.config import normalise_fly_app_name
from models.tasks.workflow_io import RunnerLaunch

SetupMode = Literal["org", "deploy"]
#: How many generated app names ``org`` mode tries when Fly says a name is taken.
GENERATED_NAME_TRIES = 3


class FlyError(Exception):
    """A Fly call that failed; ``status`` is None when Fly did not answer."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str) and body[key].strip():
                return body[key].strip()
    return f"Fly answered HTTP {response.status_code}"


class FlyApi:
    """One token's calls to the Machines API; every non-2xx answer is a ``FlyError``."""

    def __init__(self, api_url: str, token: str, *, timeout: float) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"FlyApi(api_url={self.api_url!r})"

    async def call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                   ok_404: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": "capstan"}
        try:
            async with outside_client(timeout=self._timeout) as http:
                response = await http.request(method, f"{self.api_url}{path}", json=json, params=params,
                                              headers=headers)
        except httpx.HTTPError as exc:
            raise FlyError(None, f"Fly is unreachable ({type(exc).__name__})") from None
        except UnicodeEncodeError:  # a token stored before tokens were checked
            raise FlyError(401, "the Fly token holds characters an HTTP header cannot carry") from None
        if ok_404 and response.status_code == 404:
            return None
        if not response.is_success:
            raise FlyError(response.status_code, _message(response).replace(self._token, "***"))
        try:
            return response.json()
        except ValueError:
            return None


def _app_path(app: str) -> str:
    return f"/apps/{quote(app, safe='')}"


class FlyMachines:
    """The machines of one Fly app."""

    def __init__(self, api_url: str, token: str, app: str, *, timeout: float) -> None:
        self.api = FlyApi(api_url, token, timeout=timeout)
        self.app = app

    async def create(self, launch: RunnerLaunch, env: dict[str, str]) -> str:
        """Start a machine running the runner image with ``env``; its id. The machine is named after the
        execution, so a retried start whose first answer was lost finds the machine it made."""
        name = f"capstan-{launch.execution_id}"
        listed = await self.api.call("GET", f"{_app_path(self.app)}/machines")
        for machine in listed if isinstance(listed, list) else []:
            if isinstance(machine, dict) and machine.get("name") == name and isinstance(machine.get("id"), str):
                return machine["id"]
        config = {"image": launch.image, "auto_destroy": True, "restart": {"policy": "no"}, "env": env,
                  "guest": {"cpu_kind": "shared", "cpus": launch.cpus, "memory_mb": launch.memory_mb}}
        body = await self.api.call("POST", f"{_app_path(self.app)}/machines",
                                   json={"name": name, "config": config})
        machine_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(machine_id, str) or not machine_id:
            raise FlyError(200, "Fly created a machine but answered without its id")
        return machine_id

    async def destroy(self, machine_id: str) -> None:
        """Destroy the machine, running or not; one already gone is fine."""
        await self.api.call("DELETE", f"{_app_path(self.app)}/machines/{quote(machine_id, safe='')}",
                            params={"force": "true"}, ok_404=True)


# --- setup validation -------------------------------------------------------------------------------

def _validation(ok: bool, status: str, message: str, mode: SetupMode, app: str | None = None,
                created: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": ok, "status": status, "message": message, "appCreated": created, "mode": mode}
    if app:
        answer["flyAppName"] = app
    return answer


def _generated_name() -> str:
    return f"capstan-{secrets.token_hex(4)}"


def _token_scope(body: Any) -> tuple[list[str], list[str]]:
    """The app names and org slugs ``GET /tokens/current`` says the token is scoped to."""
    apps: list[str] = []
    orgs: list[str] = []
    tokens = body.get("tokens") if isinstance(body, dict) else None
    for token in tokens if isinstance(tokens, list) else []:
        if not isinstance(token, dict):
            continue
        for app in token.get("apps") or []:
            name = app.get("name") if isinstance(app, dict) else app
            if isinstance(name, str) and name and name not in apps:
                apps.append(name)
        if isinstance(token.get("org_slug"), str) and token["org_slug"] and token["org_slug"] not in orgs:
            orgs.append(token["org_slug"])
    return apps, orgs


def _refusal(error: FlyError, mode: SetupMode, app: str | None) -> dict[str, Any]:
    if error.status == 401:
        return _validation(False, "invalid_token", "Invalid Fly token.", mode, app)
    if error.status == 403 or (error.status == 400 and "org_slug" in error.message):
        return _validation(False, "insufficient_scope", error.message, mode, app)
    return _validation(False, "error", error.message, mode, app)


async def validate_fly(api_url: str, token: str | None, app: str | None, mode: SetupMode, *,
                       timeout: float) -> dict[str, Any]:
    """``{ok, status, message, appCreated, flyAppName?, mode}``; status one of ``ready, missing_token,
    missing_app_name, invalid_token, insufficient_scope, app_not_found, name_conflict, error``."""
    if not token or not token.strip():
        return _validation(False, "missing_token", "No Fly token is stored.", mode, app)
    api = FlyApi(api_url, token.strip(), timeout=timeout)
    app = normalise_fly_app_name(app) if app else None
    try:
        scoped_apps, orgs = _token_scope(await api.call("GET", "/tokens/current"))
        if mode == "deploy":
            return await _deploy_app(api, app, scoped_apps)
        return await _org_app(api, app, scoped_apps, orgs)
    except FlyError as error:
        return _refusal(error, mode, app)


async def _deploy_app(api: FlyApi, app: str | None, scoped_apps: list[str]) -> dict[str, Any]:
    """``deploy`` mode: the app must exist (the token's only app when none is named)."""
    if app is None:
        if len(scoped_apps) == 1 and await api.call("GET", _app_path(scoped_apps[0]), ok_404=True) is not None:
            return _validation(True, "ready", f"Fly app {scoped_apps[0]} is ready.", "deploy", scoped_apps[0])
        return _validation(False, "missing_app_name", "Name the Fly app runs deploy to.", "deploy")
    if await api.call("GET", _app_path(app), ok_404=True) is None:
        return _validation(False, "app_not_found", f"Fly app {app} does not exist.", "deploy", app)
    return _validation(True, "ready", f"Fly app {app} is ready.", "deploy", app)


async def _org_app(api: FlyApi, app: str | None, scoped_apps: list[str], orgs: list[str]) -> dict[str, Any]:
    """``org`` mode: use the named (or only) app, creating it in the token's org when it is missing."""
    if app is None and not orgs and len(scoped_apps) > 1:
        return _validation(False, "missing_app_name", "The token reaches several apps: name the one to use.", "org")
    generated = app is None and len(scoped_apps) != 1
    candidate = app or (scoped_apps[0] if len(scoped_apps) == 1 else _generated_name())
    if not orgs:
        if await api.call("GET", _app_path(candidate), ok_404=True) is None:
            return _validation(False, "insufficient_scope", f"Fly app {candidate} does not exist and the token "
                                                            "names no organization to create it in.", "org", candidate)
        return _validation(True, "ready", f"Fly app {candidate} is ready.", "org", candidate)
    org = "personal" if "personal" in orgs else sorted(orgs)[0]
    for _ in range(GENERATED_NAME_TRIES if generated else 1):
        if await api.call("GET", _app_path(candidate), ok_404=True) is not None:
            return _validation(True, "ready", f"Fly app {candidate} is ready.", "org", candidate)
        try:
            await api.call("POST", "/apps", json={"app_name": candidate, "org_slug": org})
        except FlyError as error:
            if error.status != 409:
                raise
            if generated:
                candidate = _generated_name()
                continue
            return _validation(False, "name_conflict", f"The Fly app name {candidate} is taken.", "org", candidate)
        return _validation(True, "ready", f"Fly app {candidate} created.", "org", candidate, created=True)
    return _validation(False, "name_conflict", "Every generated Fly app name was taken; name one.", "org")
