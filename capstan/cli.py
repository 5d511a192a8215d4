"""The ``capstan`` command: ``dev`` for one machine, ``api``/``worker``/``migrate`` for production."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from capstan.settings import DevSettings, get_settings


def _dev(args: argparse.Namespace) -> int:
    from capstan.devstack.restarts import RestartLimits
    from capstan.devstack.supervisor import DevOptions, run_dev
    from capstan.logs import configure_logging

    configure_logging(get_settings().log, "dev")
    dev = DevSettings()
    limits = RestartLimits(backoff_seconds=dev.restart_backoff_seconds,
                           max_backoff_seconds=dev.restart_backoff_max_seconds,
                           crash_loop_restarts=dev.crash_loop_restarts,
                           crash_loop_window_seconds=dev.crash_loop_window_seconds)
    return run_dev(DevOptions(
        data_dir=Path(args.data_dir), api_port=args.api_port, temporal_port=args.temporal_port,
        ui_port=args.ui_port, postgres_port=args.postgres_port, workers=args.workers,
        worker_metrics_base_port=args.worker_metrics_port, temporal_cli=dev.temporal_cli, restart_limits=limits,
    ))


def _api(_: argparse.Namespace) -> int:
    import gc

    import uvicorn

    import api.app  # noqa: F401 - imported here so the objects of every module can be frozen below
    from capstan.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log, "api")
    # The imports leave ~140,000 long-lived objects; every full collection walked them all and
    # stalled each request in flight for ~40 ms (p99 of the list routes, docs/performance.md, Scale).
    gc.collect()
    gc.freeze()
    # Without a graceful-shutdown bound uvicorn waits for every request in flight, however slow its client.
    uvicorn.run("api.app:create_app", factory=True, host=settings.api.host, port=settings.api.port,
                log_config=None, proxy_headers=True,
                timeout_graceful_shutdown=settings.api.shutdown_timeout_seconds)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from capstan.logs import configure_logging
    from capstan.temporal import TemporalUnavailable
    from worker.main import run_worker
    from worker.registry import UnknownSurface, choose_surfaces, parse_surface_names

    settings = get_settings()
    chosen = args.surfaces if args.surfaces is not None else settings.worker.surfaces
    try:
        surfaces = choose_surfaces(None if chosen is None else parse_surface_names(chosen))
    except UnknownSurface as exc:
        print(f"capstan worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log, "worker")
    try:
        asyncio.run(run_worker(settings, surfaces))
    except TemporalUnavailable as exc:
        print(f"capstan worker: {exc}", file=sys.stderr)
        return 2
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from capstan.migrate import upgrade_to_head
    from capstan.temporal import TemporalUnavailable, connect, ensure_search_attributes

    settings = get_settings()
    upgrade_to_head(settings.database.url)
    print("database: at head")
    if args.skip_temporal:
        return 0

    async def register() -> None:
        await ensure_search_attributes(await connect(settings.temporal))

    try:
        asyncio.run(register())
    except TemporalUnavailable as exc:
        print(f"capstan migrate: {exc}", file=sys.stderr)
        return 2
    print("temporal: search attributes registered")
    return 0


def _task_callback(args: argparse.Namespace) -> int:
    """Report a runner's result to ``$CALLBACK_URL`` (the runner contract of docs/api/tasks.md)."""
    import os

    from integrations.runners.callback import post_completion

    missing = [name for name in ("CALLBACK_URL", "CALLBACK_TOKEN", "TASK_ID") if not os.environ.get(name)]
    if missing:
        print(f"capstan task-callback: {', '.join(missing)} not set", file=sys.stderr)
        return 2
    payload = {"execution_id": os.environ["TASK_ID"], "task_id": os.environ["TASK_ID"], "status": args.status,
               "branch_name": os.environ.get("BRANCH_NAME") or os.environ.get("BRANCH"),
               "base_branch": os.environ.get("BASE_BRANCH"), "summary": args.summary, "error": args.error,
               "commit_hash": args.commit_hash, "pr_exists": args.pr_exists}
    payload = {name: value for name, value in payload.items() if value is not None}
    status = asyncio.run(post_completion(os.environ["CALLBACK_URL"], os.environ["CALLBACK_TOKEN"], payload))
    print(f"capstan task-callback: {'HTTP ' + str(status) if status else 'server unreachable'}")
    return 0 if status is not None and 200 <= status < 300 else 1


def _token(args: argparse.Namespace) -> int:
    """Print a development JWT for the platform API v1, signed with CAPSTAN_JWT_SECRET (HS256)."""
    import time

    import jwt

    from capstan.devstack.supervisor import JWT_SECRET_FILE
    from models.common.settings import secret_value
    from models.platform_v1.settings import PlatformSettings

    platform = PlatformSettings()
    kept = DevSettings().data_dir / JWT_SECRET_FILE  # the key `capstan dev` made for its stack
    secret = secret_value(platform.jwt_secret) or (kept.read_text().strip() if kept.exists() else None)
    if not secret:
        print(f"capstan token: set CAPSTAN_JWT_SECRET (or JWT_SECRET), or start `capstan dev` once to make "
              f"{kept}", file=sys.stderr)
        return 2
    now = int(time.time())
    claims = {"sub": args.sub, "roles": args.role, "workspaces": args.workspace or [], "iat": now,
              "exp": now + args.ttl}
    # An API that checks iss and aud refuses a token without them: the same settings name them.
    claims |= {name: value for name, value in (("iss", platform.jwt_issuer), ("aud", platform.jwt_audience))
               if value}
    print(jwt.encode(claims, secret, algorithm="HS256"))
    return 0


def _positive_seconds(value: str) -> int:
    seconds = int(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    dev_defaults = DevSettings()
    parser = argparse.ArgumentParser(prog="capstan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="start the whole stack on this machine (foreground)")
    dev.add_argument("--api-port", type=int, default=get_settings().api.port)
    dev.add_argument("--temporal-port", type=int, default=dev_defaults.temporal_port)
    dev.add_argument("--ui-port", type=int, default=dev_defaults.ui_port)
    dev.add_argument("--postgres-port", type=int, default=dev_defaults.postgres_port)
    dev.add_argument("--data-dir", default=str(dev_defaults.data_dir))
    dev.add_argument("--workers", type=int, default=dev_defaults.workers)
    dev.add_argument("--worker-metrics-port", type=int, default=dev_defaults.worker_metrics_base_port,
                     help="first worker's Prometheus port; 0 turns worker metrics off")
    dev.set_defaults(run=_dev)

    sub.add_parser("api", help="serve the HTTP API (configured by environment)").set_defaults(run=_api)
    worker = sub.add_parser("worker", help="run a Temporal worker (configured by environment)")
    worker.add_argument("--surfaces", metavar="NAMES", default=None,
                        help="comma-separated worker surfaces to serve, e.g. protocols "
                             "(default: CAPSTAN_WORKER_SURFACES, else all)")
    worker.set_defaults(run=_worker)
    migrate = sub.add_parser("migrate", help="upgrade the database to head and register search attributes")
    migrate.add_argument("--skip-temporal", action="store_true", help="only migrate the database")
    migrate.set_defaults(run=_migrate)
    token = sub.add_parser("token", help="print a development JWT for /api/v1 (signed with CAPSTAN_JWT_SECRET)")
    token.add_argument("--role", action="append", required=True, metavar="ROLE",
                       choices=["msp_admin", "ops_engineer", "automation_operator", "integration_admin", "billing",
                                "data_admin", "viewer", "platform_admin", "endpoint_agent", "client_portal"],
                       help="a role of the token (repeat for several)")
    token.add_argument("--workspace", action="append", metavar="ID", help="a workspace it may act in (repeat)")
    token.add_argument("--sub", default="dev", help="the subject (default: %(default)s)")
    token.add_argument("--ttl", type=_positive_seconds, default=3600,
                       help="seconds until it expires (default: %(default)s)")
    token.set_defaults(run=_token)
    callback = sub.add_parser("task-callback", help="report a coding-task runner's result to $CALLBACK_URL "
                                                    "(reads CALLBACK_URL, CALLBACK_TOKEN, TASK_ID, BRANCH_NAME, "
                                                    "BASE_BRANCH)")
    callback.add_argument("--status", choices=["complete", "failed"], required=True)
    callback.add_argument("--summary")
    callback.add_argument("--error")
    callback.add_argument("--commit-hash")
    callback.add_argument("--pr-exists", type=int, default=None, metavar="N")
    callback.set_defaults(run=_task_callback)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
