"""`streamstack assets`: list, show, delete and clip assets through the API."""

from __future__ import annotations

from typing import Any

import typer

from streamstack.cli.common import ApiKey, ApiUrl, api_client, checked, console, err, print_page

assets_app = typer.Typer(help="Assets in the catalog.", no_args_is_help=True)


@assets_app.command("list")
def assets_list(status: str | None = typer.Option(None, help="waiting, preparing, ready or errored."),
                limit: int = 25, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """List assets, newest first."""
    with api_client(api_url, api_key) as client:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        page = checked(client.get("/v1/assets", params=params))
    print_page(page, ("id", "status", "progress", "duration", "renditions", "created"), _asset_row)


def _asset_row(asset: dict[str, Any]) -> tuple[str, ...]:
    duration = f"{asset['duration']:.1f}s" if asset["duration"] else "-"
    return (asset["id"], asset["status"], f"{asset['progress']:.0f}%", duration, str(len(asset["renditions"])),
            asset["created_at"][:19])


@assets_app.command("show")
def assets_show(asset_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Show one asset as JSON."""
    with api_client(api_url, api_key) as client:
        console.print_json(data=checked(client.get(f"/v1/assets/{asset_id}")))


@assets_app.command("delete")
def assets_delete(asset_id: str, api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Delete an asset and every object it owns."""
    with api_client(api_url, api_key) as client:
        checked(client.delete(f"/v1/assets/{asset_id}"))
    err.print(f"deleted {asset_id}")


@assets_app.command("clip")
def assets_clip(asset_id: str = typer.Argument(..., help="The recording (live or finished) or asset to cut."),
                start: float | None = typer.Option(None, "--start", min=0, help="Seconds in; default 0."),
                end: float | None = typer.Option(None, "--end", min=0, help="Seconds in; default the end (or the "
                                                 "live edge)."),
                title: str | None = typer.Option(None, help="The clip's title."),
                signed: bool = typer.Option(False, help="Signed playback instead of public."),
                api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Cut a clip at segment boundaries, without re-encoding: a new asset, ready at once (printed as JSON)."""
    body: dict[str, Any] = {"input": f"streamstack://assets/{asset_id}", "start_time": start, "end_time": end,
                            "playback_policy": ["signed" if signed else "public"]}
    if title:
        body["meta"] = {"title": title}
    with api_client(api_url, api_key) as client:
        console.print_json(data=checked(client.post("/v1/assets", json=body)))
