"""`streamstack status`: component health, queues, encoding jobs, the edge and live streams, as a table or JSON."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from streamstack.cli.common import ApiKey, ApiUrl
from streamstack.observability.status import (
    EdgeTraffic,
    LiveStatus,
    LiveStreamStatus,
    PlatformStatus,
    QueueStatus,
    collect_status,
)


def status(api_url: str | None = ApiUrl, api_key: str | None = ApiKey) -> None:
    """Component health, queue and DLQ depth, encoding jobs by state, the edge hit ratio and live streams."""
    if not status_command(api_url, api_key):
        raise typer.Exit(1)


STATE_STYLE = {"ok": "green", "down": "bold red", "unknown": "yellow"}


def render(status: PlatformStatus) -> Table:
    """One table, a section each for components, queues, encoding jobs and the edge."""
    table = Table("", "name", "state", "detail", title=f"streamstack at {status.api_url}", title_justify="left")
    for c in status.components:
        table.add_row("component", c.name, f"[{STATE_STYLE[c.state]}]{c.state}[/]", c.detail)
    table.add_section()
    for q in status.queues:
        table.add_row("queue", q.queue, _queue_state(q), _queue_detail(q))
    table.add_section()
    for state, count in status.jobs.items():
        table.add_row("jobs since start", state, f"{count:.0f}", "")
    table.add_section()
    table.add_row("edge", "hit ratio", _ratio(status.edge.hit_ratio), _edge_detail(status.edge))
    _add_live(table, status.live)
    if status.metrics_error:
        table.caption = f"[yellow]{status.metrics_error}[/]"
    return table


LIVE_STYLE = {"ok": "green", "stalled": "bold red", "behind": "bold red"}


def _add_live(table: Table, live: LiveStatus) -> None:
    """Connected streams and their ingest, encoder and latency figures; nothing when no ingest reports."""
    if live.active_streams is None and not live.streams:
        return
    table.add_section()
    lag = "-" if live.part_publish_seconds is None else f"{live.part_publish_seconds * 1000:.0f} ms"
    table.add_row("live", "streams", f"{live.active_streams or 0:.0f} connected", f"part publish lag {lag} (mean)")
    for stream in live.streams:
        table.add_row("live stream", stream.live_stream_id, f"[{LIVE_STYLE[stream.state]}]{stream.state}[/]",
                      _live_detail(stream))  # fmt: skip


def _live_detail(s: LiveStreamStatus) -> str:
    mbps = None if s.ingest_bitrate is None else s.ingest_bitrate / 1e6
    parts = [("ingest", mbps, "{:.2f} Mb/s"), ("", s.ingest_frame_rate, "{:.1f} fps"),
             ("transcoder", s.transcoder_speed, "{:.2f}x"), ("latency", s.latency_seconds, "{:.1f} s"),
             ("no video for", s.stall_seconds, "{:.0f} s")]  # fmt: skip
    return ", ".join(f"{label} {'-' if value is None else text.format(value)}".strip() for label, value, text in parts)


def _queue_state(q: QueueStatus) -> str:
    return "[bold red]DLQ not empty[/]" if q.dlq_depth else "[green]ok[/]"


def _queue_detail(q: QueueStatus) -> str:
    oldest = "-" if q.oldest_age_seconds is None else f"{q.oldest_age_seconds:.0f} s"
    dlq = "-" if q.dlq_depth is None else f"{q.dlq_depth:.0f}"
    return f"depth {q.depth:.0f}, oldest {oldest}, DLQ {dlq}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _edge_detail(edge: EdgeTraffic) -> str:
    by_result = ", ".join(f"{name} {count:.0f}" for name, count in sorted(edge.requests.items()))
    return f"{edge.total:.0f} requests ({by_result or 'none yet'}), {edge.bytes / 1e6:.1f} MB served"


def status_command(api_url: str | None, api_key: str | None, *, edge_url: str | None = None) -> bool:
    """Print the status (a Rich table on a terminal, JSON otherwise); True when nothing is down."""
    from streamstack.settings import get_settings

    settings = get_settings()
    status = collect_status(
        (api_url or settings.api_base_url).rstrip("/"), api_key, (edge_url or settings.edge_base_url).rstrip("/")
    )
    if sys.stdout.isatty():
        Console().print(render(status))
    else:
        print(json.dumps(status.as_dict(), indent=2))
    return status.healthy
