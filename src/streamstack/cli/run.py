"""Running the platform: `up` (everything on this machine), `api`, `worker`, `edge`, and `db upgrade`."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping

import typer

from streamstack.cli.common import catalog_session, console, err
from streamstack.settings import Settings, get_settings

# Under `up` there is no other ingest to reconnect to: Ctrl-C closes live sessions as recordings promptly, well
# inside the supervisor's stop timeout (STOP_TIMEOUT_SECONDS, 40 s), instead of draining for live_drain_seconds
# (100 s by default, sized for ECS) and being SIGKILLed half-way with no ENDLIST.
UP_INGEST_DRAIN_SECONDS = 10.0

db_app = typer.Typer(help="Catalog migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    app_user: str | None = typer.Option(
        None, "--app-user", help="PostgreSQL: also make this login role (no password, RDS IAM auth) with DML only."
    ),
) -> None:
    """Apply migrations once (the aws shape runs this as a one-off task, never on every replica start)."""
    from streamstack.db.app_user import AppUserError, ensure_app_user
    from streamstack.db.session import upgrade
    from streamstack.secrets import settings_with_secrets

    settings = settings_with_secrets(get_settings())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    err.print("catalog is at the latest migration")
    if app_user is None:
        return
    try:
        user = ensure_app_user(settings.resolved_database_url, app_user)
    except AppUserError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    state = "created" if user.created else "exists"
    iam = "rds_iam granted" if user.rds_iam else "no rds_iam role on this server (not RDS): pg_hba.conf rules its login"
    err.print(f"app user {user.name} {state}, DML on the catalog granted; {iam}")


def api() -> None:
    """Run the API and console (one process)."""
    import uvicorn

    from streamstack.api import create_app
    from streamstack.observability import setup_process
    from streamstack.platform import build_platform

    settings = get_settings()
    setup_process(service="api", settings=settings)
    platform = build_platform(settings)
    uvicorn.run(create_app(platform), host=settings.api_host, port=settings.api_port, log_config=None,
                timeout_graceful_shutdown=30)


def worker() -> None:
    """Run a worker: consumes the encode and events queues."""
    from streamstack.events.worker import Worker
    from streamstack.observability import setup_process
    from streamstack.platform import build_platform

    settings = get_settings()
    setup_process(service="worker", settings=settings)
    platform = build_platform(settings)
    runner = Worker(platform, ticks=worker_ticks(platform))
    runner.install_signal_handlers()
    runner.run()
    platform.close()


def worker_ticks(platform):  # type: ignore[no-untyped-def]
    """Periodic work between polls: webhook delivery, liveness heartbeat, queue gauges, managed live sessions and
    abandoned managed creates."""
    from streamstack.live.managed import end_due_sessions
    from streamstack.live.provisioning import sweep_abandoned
    from streamstack.observability import metrics
    from streamstack.webhooks.dispatcher import dispatch_due

    managed = [lambda: end_due_sessions(platform), lambda: sweep_abandoned(platform)] \
        if platform.managed_live is not None else []  # fmt: skip
    return [lambda: dispatch_due(platform), metrics.heartbeat,
            *(lambda q=q: metrics.refresh_queue(q) for q in platform.queues.values()), *managed]


def edge() -> None:
    """Run the edge: HLS delivery with signed playback, caching and request coalescing."""
    from streamstack.delivery.server import serve_edge

    settings = get_settings()
    serve_edge("streamstack.delivery.app:edge_app_from_settings", factory=True, address=settings.api_host,
               port=settings.edge_port, workers=settings.edge_workers)


def ingest() -> None:
    """Run the live ingest: nginx's RTMP module and the SRT front, one encoder + packager per live session."""
    import threading

    from streamstack.live.ingest import find_nginx, run_ingest
    from streamstack.observability import setup_process
    from streamstack.platform import build_platform

    settings = get_settings()
    if settings.rtmp_port and find_nginx() is None:
        err.print("RTMP ingest is off: nginx with its RTMP module is not installed (Debian: nginx libnginx-mod-rtmp)")
    if not settings.srt_port and (not settings.rtmp_port or find_nginx() is None):
        err.print("Live ingest is off: no RTMP ingest and STREAMSTACK_SRT_PORT is 0")
        raise typer.Exit(1)
    setup_process(service="ingest", settings=settings)
    platform = build_platform(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_ingest(platform, stop)
    platform.close()


def up() -> None:
    """Run the whole platform on this machine: API + console, worker and edge, until Ctrl-C.

    A child that crashes is restarted with backoff while the others keep serving (see cli/supervisor.py).
    """
    from streamstack.cli.supervisor import Supervisor
    from streamstack.db.session import upgrade
    from streamstack.observability import setup_process
    from streamstack.observability.exposition import metrics_dir, prepare_multiprocess

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    admin_key = _first_run_admin_key(settings)
    env = {**up_environment(settings, os.environ), **prepare_multiprocess(metrics_dir(settings))}
    setup_process(service="supervisor", settings=settings)
    names = ("api", "worker", "edge", *_live_ingest(settings))
    supervisor = Supervisor({name: [sys.executable, "-m", "streamstack", name] for name in names}, env)
    signal.signal(signal.SIGINT, lambda _signum, _frame: supervisor.stop())
    signal.signal(signal.SIGTERM, lambda _signum, _frame: supervisor.stop())
    console.print(f"[bold]streamstack[/bold] is up: console and API at {settings.api_base_url}  "
                  f"edge at {settings.edge_base_url}  data in {settings.data_dir.resolve()}")
    if admin_key:
        console.print("First run: admin API key (shown once):")
        console.print(admin_key, markup=False, highlight=False)
    supervisor.run()


def up_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The children's environment: `up` has migrated already, and its ingest, the only one (no other to hand
    sessions over to), drains within the stop timeout."""
    drain = min(settings.live_drain_seconds, UP_INGEST_DRAIN_SECONDS)
    return {**base, "STREAMSTACK_AUTO_MIGRATE": "false", "STREAMSTACK_LIVE_DRAIN_SECONDS": f"{drain:g}",
            "STREAMSTACK_LIVE_HAND_OVER": "false"}


def _live_ingest(settings: Settings) -> tuple[str, ...]:
    """The ingest process when RTMP or SRT can run; say once when RTMP is off, and run everything else."""
    from streamstack.live.ingest import find_nginx

    rtmp = bool(settings.rtmp_port) and find_nginx() is not None
    if settings.rtmp_port and not rtmp:
        err.print("RTMP ingest is off: nginx with its RTMP module is not installed "
                  "(Debian: nginx libnginx-mod-rtmp; `make up` installs them when it can)")
    return ("ingest",) if rtmp or settings.srt_port else ()


def _first_run_admin_key(settings: Settings) -> str | None:
    if not settings.api_key_bootstrap:
        return None
    from streamstack.keys.service import create_api_key, list_api_keys

    with catalog_session(settings) as db_session:
        if list_api_keys(db_session=db_session):
            return None
        created = create_api_key(db_session=db_session, name="admin", scopes=["admin"])
    return created.secret
