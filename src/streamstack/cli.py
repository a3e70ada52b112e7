"""The streamstack command: run the platform (up, api, worker, edge), manage keys, upload, inspect assets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from streamstack.keys.signing_cli import signing_app
from streamstack.settings import Settings, get_settings

app = typer.Typer(help="streamstack: upload, encode to adaptive HLS, deliver with signed playback.",
                  no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
assets_app = typer.Typer(help="Assets in the catalog.", no_args_is_help=True)
db_app = typer.Typer(help="Catalog migrations.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(assets_app, name="assets")
app.add_typer(db_app, name="db")
keys_app.add_typer(signing_app, name="signing", help="Playback signing keys (CloudFront key-group style).")
console = Console()
err = Console(stderr=True)

ApiUrl = typer.Option(None, "--api-url", envvar="STREAMSTACK_API_URL", help="API base URL.")
ApiKey = typer.Option(None, "--api-key", envvar="STREAMSTACK_API_KEY", help="API key (Bearer).")


def _catalog(settings: Settings):  # type: ignore[no-untyped-def]
    from streamstack.db.session import open_catalog

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_catalog(settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations once (the aws shape runs this as a one-off task, never on every replica start)."""
    from streamstack.db.session import upgrade
    from streamstack.secrets import settings_with_secrets

    settings = settings_with_secrets(get_settings())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    err.print("catalog is at the latest migration")


@keys_app.command("create")
def keys_create(name: str = typer.Option(..., "--name", help="Who or what uses the key."),
                scope: list[str] = typer.Option(["read", "write"], "--scope", help="read, write or admin.")) -> None:
    """Create an API key and print it once (alone on a line when piped)."""
    from streamstack.keys.service import create_api_key

    engine, sessions = _catalog(get_settings())
    with sessions() as db_session:
        try:
            created = create_api_key(db_session=db_session, name=name, scopes=scope)
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    engine.dispose()
    if sys.stdout.isatty():
        console.print(f"API key for [bold]{name}[/bold] ({', '.join(created.scopes)}), shown only once:")
        console.print(created.secret, markup=False, highlight=False)
    else:
        print(created.secret)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    from streamstack.keys.service import list_api_keys

    engine, sessions = _catalog(get_settings())
    table = Table("id", "name", "prefix", "scopes", "created", "revoked")
    with sessions() as db_session:
        for key in list_api_keys(db_session=db_session):
            table.add_row(key.id, key.name, key.prefix + "…", ",".join(key.scopes), str(key.created_at)[:19],
                          str(key.revoked_at)[:19] if key.revoked_at else "")
    engine.dispose()
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from streamstack.keys.service import revoke_api_key

    engine, sessions = _catalog(get_settings())
    with sessions() as db_session:
        found = revoke_api_key(db_session=db_session, key_id=key_id)
    engine.dispose()
    if not found:
        err.print(f"no API key {key_id!r}")
        raise typer.Exit(1)


@app.command()
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


@app.command()
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
    """Periodic work between polls: webhook delivery, liveness heartbeat and queue gauges."""
    from streamstack.observability import metrics
    from streamstack.webhooks.dispatcher import dispatch_due

    return [lambda: dispatch_due(platform), metrics.heartbeat,
            *(lambda q=q: metrics.refresh_queue(q) for q in platform.queues.values())]


@app.command()
def edge() -> None:
    """Run the edge: HLS delivery with signed playback, caching and request coalescing."""
    from granian import Granian
    from granian.constants import Interfaces, Loops

    settings = get_settings()
    # granian (Rust HTTP, ASGI): bench/edge.py measures ~3x uvicorn's playlist throughput and sendfile-style
    # `pathsend` for segments. It never rewrites the client address from forwarded headers, so a header
    # cannot satisfy a signed policy's IpAddress condition.
    Granian("streamstack.delivery.app:edge_app_from_settings", factory=True, address=settings.api_host,
            port=settings.edge_port, interface=Interfaces.ASGI, loop=Loops.uvloop, websockets=False,
            workers=settings.edge_workers, backlog=4096, log_access=False).serve()


@app.command()
def up() -> None:
    """Run the whole platform on this machine: API + console, worker and edge, until Ctrl-C."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from streamstack.db.session import upgrade

    upgrade(settings.resolved_database_url)
    admin_key = _first_run_admin_key(settings)
    from streamstack.observability.metrics import metrics_dir, prepare_multiprocess

    env = {**os.environ, "STREAMSTACK_AUTO_MIGRATE": "false", **prepare_multiprocess(metrics_dir(settings))}
    children = [_spawn(name, env) for name in ("api", "worker", "edge")]
    console.print(f"[bold]streamstack[/bold] is up: console and API at {settings.api_base_url}  "
                  f"edge at {settings.edge_base_url}  data in {settings.data_dir.resolve()}")
    if admin_key:
        console.print("First run: admin API key (shown once):")
        console.print(admin_key, markup=False, highlight=False)
    _supervise(children)


def _spawn(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "streamstack", name], env=env)


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Stop everything when one child dies or on SIGINT/SIGTERM; children get SIGTERM to drain."""
    stop = {"now": False}

    def request_stop(_signum: int, _frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop["now"] and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=40)
        except subprocess.TimeoutExpired:
            child.kill()
    if any(child.returncode not in (0, -signal.SIGTERM) for child in children) and not stop["now"]:
        raise typer.Exit(1)


def _first_run_admin_key(settings: Settings) -> str | None:
    if not settings.api_key_bootstrap:
        return None
    from streamstack.keys.service import create_api_key, list_api_keys

    engine, sessions = _catalog(settings)
    with sessions() as db_session:
        if list_api_keys(db_session=db_session):
            engine.dispose()
            return None
        created = create_api_key(db_session=db_session, name="admin", scopes=["admin"])
    engine.dispose()
    return created.secret


def _client(api_url: str | None, api_key: str | None) -> httpx.Client:
    if not api_key:
        err.print("an API key is needed: --api-key or STREAMSTACK_API_KEY (create one: streamstack keys create)")
        raise typer.Exit(2)
    base = (api_url or get_settings().api_base_url).rstrip("/")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        try:
            problem = response.json()
            message = problem.get("detail") or problem.get("title")
        except ValueError:
            message = response.text[:200]
        err.print(f"[red]{response.status_code}[/red] {message}")
        raise typer.Exit(1)
    return response.json() if response.content else {}


@app.command()
def upload(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
           wait: bool = typer.Option(False, "--wait", help="Wait until the asset is ready or errored."),
           policy: str = typer.Option("public", "--policy", help="Playback policy: public or signed."),
           chunk_mb: int = typer.Option(8, "--chunk-mb", help="tus chunk size in MiB."),
           api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Upload a file (presigned S3 parts in the aws shape, else tus, resumable), print the asset id and playback URL."""
    from tusclient.client import TusClient

    from streamstack.uploads.s3_multipart import put_parts

    size = path.stat().st_size
    with _client(api_url, api_key) as client:
        created = _check(client.post("/v1/uploads", json={"new_asset_settings": {"playback_policy": [policy]},
                                                          "size": size}))
        with Progress(*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=err) as progress:
            task = progress.add_task(f"uploading {path.name}", total=size)
            if created.get("multipart"):
                put_parts(client, created["multipart"], path, lambda sent: progress.update(task, completed=sent))
            else:
                uploader = TusClient(created["url"]).uploader(str(path), chunk_size=chunk_mb << 20, retries=5,
                                                              retry_delay=1)
                uploader.set_url(uploader.create_url())  # tus creation at the upload URL declares the length
                while uploader.offset < size:
                    uploader.upload_chunk()
                    progress.update(task, completed=uploader.offset)
        asset = _check(client.get(f"/v1/assets/{created['asset_id']}"))
        if wait:
            asset = _wait_for_asset(client, asset["id"])
    _print_asset_summary(asset)
    if wait and asset["status"] != "ready":
        raise typer.Exit(1)


def _wait_for_asset(client: httpx.Client, asset_id: str) -> dict[str, Any]:
    with err.status("encoding…") as status:
        while True:
            asset = _check(client.get(f"/v1/assets/{asset_id}"))
            if asset["status"] in ("ready", "errored"):
                return asset
            status.update(f"{asset['status']} {asset['progress']:.0f}%")
            time.sleep(1)


def _print_asset_summary(asset: dict[str, Any]) -> None:
    playback = asset["playback_ids"][0]["url"] if asset.get("playback_ids") else "-"
    if sys.stdout.isatty():
        console.print(f"asset [bold]{asset['id']}[/bold] {asset['status']}  playback: {playback}")
        for error in asset.get("errors", []):
            console.print(f"  [red]{error}[/red]")
    else:
        print(json.dumps({"asset_id": asset["id"], "status": asset["status"], "playback_url": playback,
                          "errors": asset.get("errors", [])}))


@app.command()
def status(api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Component health, queue and DLQ depth, encoding jobs by state and the edge hit ratio."""
    from streamstack.observability.status import status_command

    if not status_command(api_url, api_key):
        raise typer.Exit(1)


@assets_app.command("list")
def assets_list(status: str | None = typer.Option(None, help="waiting, preparing, ready or errored."),
                limit: int = 25, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """List assets, newest first."""
    with _client(api_url, api_key) as client:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        page = _check(client.get("/v1/assets", params=params))
    if not sys.stdout.isatty():
        print(json.dumps(page))
        return
    table = Table("id", "status", "progress", "duration", "renditions", "created")
    for asset in page["data"]:
        table.add_row(asset["id"], asset["status"], f"{asset['progress']:.0f}%",
                      f"{asset['duration']:.1f}s" if asset["duration"] else "-", str(len(asset["renditions"])),
                      asset["created_at"][:19])
    console.print(table)


@assets_app.command("show")
def assets_show(asset_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Show one asset as JSON."""
    with _client(api_url, api_key) as client:
        console.print_json(data=_check(client.get(f"/v1/assets/{asset_id}")))


@assets_app.command("delete")
def assets_delete(asset_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Delete an asset and every object it owns."""
    with _client(api_url, api_key) as client:
        _check(client.delete(f"/v1/assets/{asset_id}"))
    err.print(f"deleted {asset_id}")


if __name__ == "__main__":
    app()
