"""`streamstack keys`: API keys (create, list, revoke) and, under `keys signing`, playback signing keys."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from streamstack.cli.common import catalog_session, console, err, revoke_in_catalog
from streamstack.cli.signing import signing_app

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
keys_app.add_typer(signing_app, name="signing", help="Playback signing keys (CloudFront key-group style).")


@keys_app.command("create")
def keys_create(name: str = typer.Option(..., "--name", help="Who or what uses the key."),
                scope: list[str] = typer.Option(["read", "write"], "--scope", help="read, write or admin.")) -> None:
    """Create an API key and print it once (alone on a line when piped)."""
    from streamstack.keys.service import create_api_key

    with catalog_session() as db_session:
        try:
            created = create_api_key(db_session=db_session, name=name, scopes=scope)
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    if sys.stdout.isatty():
        console.print(f"API key for [bold]{name}[/bold] ({', '.join(created.scopes)}), shown only once:")
        console.print(created.secret, markup=False, highlight=False)
    else:
        print(created.secret)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    from streamstack.keys.service import list_api_keys

    table = Table("id", "name", "prefix", "scopes", "created", "revoked")
    with catalog_session() as db_session:
        for key in list_api_keys(db_session=db_session):
            table.add_row(key.id, key.name, key.prefix + "…", ",".join(key.scopes), str(key.created_at)[:19],
                          str(key.revoked_at)[:19] if key.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from streamstack.keys.service import revoke_api_key

    revoke_in_catalog(revoke_api_key, key_id, what="API key")
