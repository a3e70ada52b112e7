"""`streamstack keys signing`: playback signing keys (create, add a public key, list, revoke)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from streamstack.cli.common import catalog_session, console, err, revoke_in_catalog

signing_app = typer.Typer(help="Playback signing keys (CloudFront key-group style).", no_args_is_help=True)


def _write_private_key(path: Path, pem: str) -> None:
    """Owner-only permissions from the first byte: the file is a credential."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(pem)


@signing_app.command("create")
def create(
    out: Path | None = typer.Option(None, "--out", help="Also write the private key here (PEM, mode 600)."),
    name: str | None = typer.Option(None, "--name", help="What the key is for."),
) -> None:
    """Generate an RSA-2048 key pair and print its Key-Pair-Id (alone on a line when piped)."""
    from streamstack.keys.signing import create_signing_key

    if out is not None and out.exists():
        err.print(f"{out} exists; not overwriting a private key")
        raise typer.Exit(1)
    with catalog_session() as db_session:
        created = create_signing_key(db_session=db_session, name=name)
    if out is not None:
        _write_private_key(out, created.private_key_pem)
    if sys.stdout.isatty():
        console.print(f"signing key created; Key-Pair-Id: [bold]{created.id}[/bold]")
        if out is not None:
            console.print(f"private key written to {out}")
    else:
        print(created.id)


@signing_app.command("add")
def add(
    public_key: Path = typer.Option(..., "--public-key", exists=True, dir_okay=False, help="RSA public key (PEM)."),
    name: str | None = typer.Option(None, "--name", help="What the key is for."),
) -> None:
    """Register a public key whose private half is kept elsewhere; prints its Key-Pair-Id."""
    from streamstack.keys.signing import add_signing_key

    with catalog_session() as db_session:
        try:
            key = add_signing_key(db_session=db_session, public_key_pem=public_key.read_text(), name=name)
        except ValueError as exc:
            err.print(f"{public_key}: {exc}")
            raise typer.Exit(2) from exc
    print(key.id)


@signing_app.command("list")
def list_keys() -> None:
    """Every signing key; revoked ones stay listed with their revocation time."""
    from streamstack.keys.signing import list_signing_keys

    table = Table("Key-Pair-Id", "name", "private key", "created", "revoked")
    with catalog_session() as db_session:
        for key in list_signing_keys(db_session=db_session):
            table.add_row(
                key.id,
                key.name or "",
                "yes" if key.private_key_pem else "no",
                str(key.created_at)[:19],
                str(key.revoked_at)[:19] if key.revoked_at else "",
            )
    console.print(table)


@signing_app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke a key: the edge rejects its signatures within seconds and tokens use another key."""
    from streamstack.keys.signing import revoke_signing_key

    revoke_in_catalog(revoke_signing_key, key_id, what="signing key")
    err.print(f"revoked {key_id}")
