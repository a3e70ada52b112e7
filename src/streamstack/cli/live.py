"""`streamstack live`: create and manage live streams through the API (what OBS needs, in one command)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from streamstack.cli.common import ApiKey, ApiUrl, api_client, checked, console, err, print_page

live_app = typer.Typer(help="Live streams: RTMP and SRT ingest, LL-HLS playback, recordings.", no_args_is_help=True)


def _show(stream: dict[str, Any]) -> None:
    """JSON when piped; otherwise the publisher's settings first, as OBS asks for them."""
    if not sys.stdout.isatty():
        print(json.dumps(stream))
        return
    console.print(f"[bold]{stream['id']}[/bold]  status: {stream['status']}"
                  f"{'  (publisher connected)' if stream['connected'] else ''}")
    console.print(f"server (RTMP): {stream['rtmp_url']}")
    if stream.get("stream_key"):
        console.print("stream key:", stream["stream_key"], markup=False, highlight=False)
    if stream.get("srt_url"):
        console.print("SRT (complete URL):", stream["srt_url"], markup=False, highlight=False)
    for playback in stream["playback_ids"]:
        console.print(f"playback ({playback['policy']}): {playback['url']}")
    if stream["recent_asset_ids"]:
        console.print(f"recordings: {', '.join(stream['recent_asset_ids'])}")
    if refusal := stream.get("last_refusal"):
        console.print(f"last publisher refused at {refusal['at']}: {refusal['message']}", markup=False,
                      highlight=False)


@live_app.command("create")
def live_create(latency_mode: str = typer.Option("low", help="low (LL-HLS) or standard."),
                reconnect_window: int = typer.Option(60, help="Seconds a dropped publisher may take to return."),
                signed: bool = typer.Option(False, help="Signed playback instead of public."),
                record: bool = typer.Option(True, "--record/--no-record",
                                            help="Record each session as an asset (live-to-VOD, clips)."),
                mp4: bool = typer.Option(False, help="Add a static MP4 to each finished recording."),
                api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Create a live stream: prints its RTMP server, stream key, SRT URL and playback URL."""
    policy = ["signed" if signed else "public"]
    body: dict[str, Any] = {"latency_mode": latency_mode, "reconnect_window": reconnect_window,
                            "playback_policy": policy}
    if record:
        body["new_asset_settings"] = {"playback_policy": policy, "mp4_support": "standard" if mp4 else "none"}
    elif mp4:
        err.print("--mp4 needs a recording (leave out --no-record)")
        raise typer.Exit(2)
    with api_client(api_url, api_key) as client:
        _show(checked(client.post("/v1/live-streams", json=body)))


@live_app.command("list")
def live_list(status: str | None = typer.Option(None, help="idle, active or disabled."), limit: int = 25,
              api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """List live streams, newest first."""
    params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
    with api_client(api_url, api_key) as client:
        page = checked(client.get("/v1/live-streams", params=params))
    print_page(page, ("id", "status", "connected", "latency", "active asset", "created"), _stream_row)


def _stream_row(stream: dict[str, Any]) -> tuple[str, ...]:
    return (stream["id"], stream["status"], "yes" if stream["connected"] else "no", stream["latency_mode"],
            stream["active_asset_id"] or "-", stream["created_at"][:19])


@live_app.command("show")
def live_show(live_stream_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Show one live stream (its key only to a write-scoped API key)."""
    with api_client(api_url, api_key) as client:
        _show(checked(client.get(f"/v1/live-streams/{live_stream_id}")))


ACTIONS = {  # command: (method, path after the id, help)
    "disable": ("PUT", "disable", "Refuse publishers (and end a live session)."),
    "enable": ("PUT", "enable", "Accept publishers again."),
    "reset-key": ("POST", "reset-stream-key", "A new stream key; the old one is refused from the next publish on."),
    "complete": ("PUT", "complete", "End the session now: the recording becomes VOD without waiting for the window."),
}


def _register_action(command: str, method: str, suffix: str, help_text: str) -> None:
    def action(live_stream_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
        with api_client(api_url, api_key) as client:
            _show(checked(client.request(method, f"/v1/live-streams/{live_stream_id}/{suffix}")))

    live_app.command(command, help=help_text)(action)


for _command, (_method, _suffix, _help) in ACTIONS.items():
    _register_action(_command, _method, _suffix, _help)


@live_app.command("delete")
def live_delete(live_stream_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Delete the live stream (its recordings stay as assets)."""
    with api_client(api_url, api_key) as client:
        checked(client.delete(f"/v1/live-streams/{live_stream_id}"))
    err.print(f"deleted {live_stream_id}")


simulcast_app = typer.Typer(help="Simulcast targets: restream a live stream to RTMP(S) destinations.",
                            no_args_is_help=True)
live_app.add_typer(simulcast_app, name="simulcast")


def _targets_path(live_stream_id: str) -> str:
    return f"/v1/live-streams/{live_stream_id}/simulcast-targets"


@simulcast_app.command("add")
def simulcast_add(live_stream_id: str, url: str = typer.Argument(..., help="rtmp:// or rtmps:// server URL."),
                  stream_key: str | None = typer.Option(None, help="The destination's stream key (appended to the "
                                                        "URL, as OBS does)."),
                  passthrough: str | None = typer.Option(None, help="Your own label, e.g. youtube."),
                  api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Restream the live stream to a destination (starts right away if the stream is live)."""
    body = {"url": url, "stream_key": stream_key, "passthrough": passthrough}
    with api_client(api_url, api_key) as client:
        target = checked(client.post(_targets_path(live_stream_id), json=body))
    if sys.stdout.isatty():
        console.print(f"added {target['id']} ({target['status']})")
    else:
        print(json.dumps(target))


@simulcast_app.command("list")
def simulcast_list(live_stream_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """The live stream's simulcast targets and their state (errored ones say why)."""
    with api_client(api_url, api_key) as client:
        page = checked(client.get(_targets_path(live_stream_id)))
    print_page(page, ("id", "status", "url", "passthrough", "error"), _target_row)


def _target_row(target: dict[str, Any]) -> tuple[str, ...]:
    return (target["id"], target["status"], target["url"], target["passthrough"] or "-", target["error"] or "-")


@simulcast_app.command("remove")
def simulcast_remove(live_stream_id: str, target_id: str, api_url: str | None = ApiUrl,
                     api_key: str | None = ApiKey) -> None:
    """Remove a target (its restream stops within a second)."""
    with api_client(api_url, api_key) as client:
        checked(client.delete(f"{_targets_path(live_stream_id)}/{target_id}"))
    err.print(f"removed {target_id}")
