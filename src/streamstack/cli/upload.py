"""`streamstack upload`: a file to a new asset, over presigned S3 parts (aws shape) or tus, resumable."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from streamstack.cli.common import ApiKey, ApiUrl, api_client, checked, console, err


def upload(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
           wait: bool = typer.Option(False, "--wait", help="Wait until the asset is ready or errored."),
           policy: str = typer.Option("public", "--policy", help="Playback policy: public or signed."),
           chunk_mb: int = typer.Option(8, "--chunk-mb", help="tus chunk size in MiB."),
           title: str | None = typer.Option(None, "--title", help="meta.title (default: the file's name)."),
           ladder: str | None = typer.Option(None, "--ladder", help="fixed or auto (content-aware)."),
           normalize_audio: bool | None = typer.Option(None, "--normalize-audio/--keep-audio-level",
                                                       help="EBU R128 loudness normalisation."),
           api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Upload a file (presigned S3 parts in the aws shape, else tus, resumable), print the asset id and playback URL."""
    from tusclient.client import TusClient

    size = path.stat().st_size
    with api_client(api_url, api_key) as client:
        settings = {"playback_policy": [policy], "meta": {"title": title or path.name}, "ladder": ladder,
                    "normalize_audio": normalize_audio}
        created = checked(client.post("/v1/uploads", json={"new_asset_settings": settings, "size": size}))
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
        asset = checked(client.get(f"/v1/assets/{created['asset_id']}"))
        if wait:
            asset = wait_for_asset(client, asset["id"])
    print_asset_summary(asset)
    if wait and asset["status"] != "ready":
        raise typer.Exit(1)


def put_parts(client: httpx.Client, session: dict[str, Any], path: Path,
              on_progress: Callable[[int], None] = lambda sent: None) -> None:
    """PUT the file's parts to their presigned URLs (asking for any missing ones), then complete."""
    size = path.stat().st_size
    part_size = int(session["part_size"])
    urls = {p["part_number"]: p["url"] for p in session["parts"]}
    wanted = list(range(1, max(1, math.ceil(size / part_size)) + 1))
    missing = [n for n in wanted if n not in urls]
    if missing:
        response = client.post(session["parts_url"], json={"part_numbers": missing})
        response.raise_for_status()
        urls.update({p["part_number"]: p["url"] for p in response.json()})
    sent = 0
    with path.open("rb") as handle, httpx.Client(timeout=300) as s3:
        for number in wanted:
            data = handle.read(part_size)
            s3.put(urls[number], content=data).raise_for_status()
            sent += len(data)
            on_progress(sent)
    client.post(session["complete_url"]).raise_for_status()


def wait_for_asset(client: httpx.Client, asset_id: str) -> dict[str, Any]:
    with err.status("encoding…") as status:
        while True:
            asset = checked(client.get(f"/v1/assets/{asset_id}"))
            if asset["status"] in ("ready", "errored"):
                return asset
            status.update(f"{asset['status']} {asset['progress']:.0f}%")
            time.sleep(1)


def print_asset_summary(asset: dict[str, Any]) -> None:
    playback = asset["playback_ids"][0]["url"] if asset.get("playback_ids") else "-"
    if sys.stdout.isatty():
        console.print(f"asset [bold]{asset['id']}[/bold] {asset['status']}  playback: {playback}")
        for error in asset.get("errors", []):
            console.print(f"  [red]{error}[/red]")
    else:
        print(json.dumps({"asset_id": asset["id"], "status": asset["status"], "playback_url": playback,
                          "errors": asset.get("errors", [])}))
