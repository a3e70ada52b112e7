"""The streamstack command: run the platform, manage keys, upload, inspect assets, check status."""

from __future__ import annotations

import typer

from streamstack.cli import run
from streamstack.cli.assets import assets_app
from streamstack.cli.keys import keys_app
from streamstack.cli.live import live_app
from streamstack.cli.status import status
from streamstack.cli.upload import upload

app = typer.Typer(help="streamstack: upload, encode to adaptive HLS, deliver with signed playback.",
                  no_args_is_help=True)
for command in (run.up, run.api, run.worker, run.edge, run.ingest, upload, status):
    app.command()(command)
app.add_typer(keys_app, name="keys")
app.add_typer(assets_app, name="assets")
app.add_typer(live_app, name="live")
app.add_typer(run.db_app, name="db")

__all__ = ["app"]
