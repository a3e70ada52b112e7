"""What every command shares: the consoles, the API options and client, and the one catalog opener."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from streamstack.settings import Settings, get_settings

console = Console()
err = Console(stderr=True)

ApiUrl = typer.Option(None, "--api-url", envvar="STREAMSTACK_API_URL", help="API base URL.")
ApiKey = typer.Option(None, "--api-key", envvar="STREAMSTACK_API_KEY", help="API key (Bearer).")


@contextmanager
def catalog_session(settings: Settings | None = None) -> Iterator[Session]:
    """One catalog session for a command that talks to the catalog directly; the engine is disposed afterwards."""
    from streamstack.db.session import open_catalog

    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine, sessions = open_catalog(settings)
    try:
        with sessions() as db_session:
            yield db_session
    finally:
        engine.dispose()


def revoke_in_catalog(revoke: Callable[..., bool], key_id: str, *, what: str) -> None:
    """Revoke through a keys service function; an unknown id says so and exits 1."""
    with catalog_session() as db_session:
        found = revoke(db_session=db_session, key_id=key_id)
    if not found:
        err.print(f"no {what} {key_id!r}")
        raise typer.Exit(1)


def api_client(api_url: str | None, api_key: str | None) -> httpx.Client:
    """An API client with the key as Bearer; without a key, say how to get one and exit 2."""
    if not api_key:
        err.print("an API key is needed: --api-key or STREAMSTACK_API_KEY (create one: streamstack keys create)")
        raise typer.Exit(2)
    base = (api_url or get_settings().api_base_url).rstrip("/")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


def checked(response: httpx.Response) -> dict[str, Any]:
    """The JSON body, or the problem's detail on stderr and exit 1."""
    if response.is_error:
        try:
            problem = response.json()
            message = problem.get("detail") or problem.get("title")
        except ValueError:
            message = response.text[:200]
        err.print(f"[red]{response.status_code}[/red] {message}")
        raise typer.Exit(1)
    return response.json() if response.content else {}


def print_page(page: dict[str, Any], columns: Sequence[str], row: Callable[[dict[str, Any]], Sequence[str]]) -> None:
    """A list page as a table on a terminal, as the API's JSON when piped (so scripts can use jq)."""
    if not sys.stdout.isatty():
        print(json.dumps(page))
        return
    table = Table(*columns)
    for item in page["data"]:
        table.add_row(*row(item))
    console.print(table)
