"""The system under load, on loopback: a catalog, the publisher, and the edge alone, in two tiers, or nginx.

Processes are started the way bench/edge.py starts them (one worker each, granian for the edge, nginx with
sendfile and open_file_cache), and each server's CPU time is read from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench.edge import cpu_seconds, free_port, server_pids, start_asgi, start_nginx, wait_for

from loadtest.counting import READS_PATH
from streamstack.assets.models import Asset, NewAssetSettings, PlaybackId
from streamstack.delivery.live import LOW_LATENCY_PLAYLIST, live_edge_of
from streamstack.live.models import LiveStream, LiveStreamCreate
from streamstack.live.service import authorize_publish, create_live_stream
from streamstack.platform import build_platform
from streamstack.settings import Settings
from streamstack.storage.keys import LIVE_MASTER_NAMES

REPO = Path(__file__).resolve().parent.parent
EDGE_ENTRY = "from loadtest.counting import counted_edge\n\napp = counted_edge()\n"
PUBLISHER_START_SECONDS = 120.0  # encoding the clip and packaging the VOD asset, on a busy machine


@dataclass(frozen=True)
class Catalog:
    """One live session seen through two live streams (LL and standard latency) and one VOD asset."""

    live_asset: str
    vod_asset: str
    low_latency_playback: str
    standard_playback: str
    vod_playback: str


def prepare_catalog(settings: Settings) -> Catalog:
    """Streams, a publish authorised as the ingest does it, and the VOD asset's catalog row."""
    platform = build_platform(settings, with_queues=False)
    try:
        with platform.sessions() as session:
            # recorded, so the session lives below one asset's prefix that the replaying publisher writes to
            recorded = LiveStreamCreate(latency_mode="low", new_asset_settings=NewAssetSettings())
            low = create_live_stream(db_session=session, body=recorded, settings=settings)
            standard = create_live_stream(db_session=session, body=LiveStreamCreate(latency_mode="standard"),
                                          settings=settings)  # fmt: skip
            session.commit()
            authorize_publish(db_session=session, stream_key=low.stream_key, settings=settings)
            live = session.get(LiveStream, low.id)
            assert live is not None and live.active_asset_id is not None
            # the standard-latency stream is a second door to the same session: one publisher feeds both modes
            other = session.get(LiveStream, standard.id)
            assert other is not None
            other.active_asset_id, other.status = live.active_asset_id, "active"
            vod = Asset(id=f"as_loadtestvod{secrets.token_hex(4)}", status="ready")
            session.add(vod)
            session.add(PlaybackId(id=f"pb_loadtestvod{secrets.token_hex(4)}", asset_id=vod.id, policy="public"))
            session.commit()
            ids = {row.live_stream_id or row.asset_id: row.id for row in session.query(PlaybackId).all()}
            return Catalog(live.active_asset_id, vod.id, ids[low.id], ids[standard.id], ids[vod.id])
    finally:
        platform.close()


@dataclass
class Server:
    """One server process under load."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    counted: bool  # answers READS_PATH

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(server_pids(self.process))

    def reads(self) -> dict[str, int]:
        return httpx.get(self.url + READS_PATH, timeout=10).json() if self.counted else {}


@dataclass
class Layout:
    """Where viewers connect, every server's CPU, and who reads the store (and, in two tiers, the shield)."""

    name: str
    viewer_url: str
    servers: list[Server]
    store_reader: Server | None
    tier_reader: Server | None = None
    paths: dict[str, str] = field(default_factory=dict)  # mode -> master playlist path


class Stack:
    """Owns a temporary root, the publisher and the servers; stops whatever it started."""

    def __init__(self, root: Path, *, server: str = "granian", server_cpus: set[int] | None = None) -> None:
        self.root = root
        self.server_cpus = server_cpus  # pin every server here (the generator runs on the other cores)
        self.data = root / "data"
        self.settings = Settings(data_dir=self.data, metrics_enabled=False)
        self.catalog = prepare_catalog(self.settings)
        self.args = argparse.Namespace(server=server, workers=1, no_metrics=False)
        self.token = secrets.token_urlsafe(24)
        self.publication_log = root / "published.log"
        self.publisher: subprocess.Popen[bytes] | None = None
        self.renditions: list[str] = []
        self.servers: list[Server] = []
        self.started = 0  # servers started so far: each gets a folder of its own
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])

    def start_publisher(self, seconds: float, *, height: int, clip_seconds: int, vod: bool) -> list[str]:
        """Start the live publisher (and the VOD asset); returns its renditions once each published a part."""
        command = [sys.executable, "-m", "loadtest.publisher", "--data-dir", str(self.data),
                   "--live-asset", self.catalog.live_asset, "--seconds", str(seconds), "--height", str(height),
                   "--clip-seconds", str(clip_seconds), "--log", str(self.publication_log),
                   *(["--vod-asset", self.catalog.vod_asset] if vod else [])]  # fmt: skip
        self.publisher = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + PUBLISHER_START_SECONDS
        while time.monotonic() < deadline:
            if self.publisher.poll() is not None:
                raise RuntimeError(f"the publisher exited ({self.publisher.returncode})")
            lines = self.publication_log.read_text().splitlines() if self.publication_log.exists() else []
            ready = [line.split() for line in lines if line.startswith("ready ")]
            if ready:
                renditions = ready[0][1:-1]
                parts = {line.split()[1] for line in lines if line.startswith("part ")}
                if set(renditions) <= parts:
                    self.renditions = renditions
                    return renditions
            time.sleep(0.2)
        raise RuntimeError("the publisher published nothing in time")

    def published(self) -> dict[tuple[str, int, int], float]:
        """(rendition, msn, part) -> wall-clock time its LL playlist was written."""
        out = {}
        for line in self.publication_log.read_text().splitlines():
            fields = line.split()
            if fields[0] == "part":
                out[fields[1], int(fields[2]), int(fields[3])] = float(fields[4])
        return out

    def live_timing(self) -> tuple[float, float]:
        """The live session's (part target, segment target) from its LL playlist: the knee's threshold, the rates."""
        edge = live_edge_of((self.live_objects() / self.renditions[0] / LOW_LATENCY_PLAYLIST).read_bytes())
        return edge.part_target, float(edge.target)

    def live_objects(self) -> Path:
        """The folder of the live session's objects (what nginx serves)."""
        return self.data / "objects" / "assets" / self.catalog.live_asset

    def _edge(self, role: str, env: dict[str, str]) -> Server:
        port = free_port()
        self.started += 1
        name = f"{role}-{self.started}"
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        (directory / "data").symlink_to(self.data, target_is_directory=True)  # start_asgi serves root/data
        process = start_asgi(directory, "edge_entry", EDGE_ENTRY, port, self.args,
                             {"STREAMSTACK_PUBLIC_EDGE_URL": f"http://127.0.0.1:{port}", **env})  # fmt: skip
        server = Server(name, process, port, counted=True)
        self.servers.append(server)
        wait_for(server.url + "/healthz", timeout=60)
        self._pin(server)
        return server

    def _pin(self, server: Server) -> None:
        """Once it answers (its worker processes and threads exist), every thread of the server on its cores."""
        if self.server_cpus is not None:
            pin_tree(server.process.pid, self.server_cpus)

    def edge_alone(self) -> Layout:
        edge = self._edge("edge", {})
        return Layout("edge", edge.url, [edge], store_reader=edge, paths=self._edge_paths())

    def two_tiers(self) -> Layout:
        shield = self._edge("shield", {"STREAMSTACK_EDGE_ORIGIN_TOKEN": self.token})
        edge = self._edge("edge", {"STREAMSTACK_EDGE_ORIGIN_URL": shield.url,
                                                        "STREAMSTACK_EDGE_ORIGIN_TOKEN": self.token})  # fmt: skip
        return Layout("two tiers", edge.url, [edge, shield], store_reader=shield, tier_reader=edge,
                      paths=self._edge_paths())  # fmt: skip

    def nginx(self) -> Layout:
        """nginx, 1 worker, open_file_cache, serving the live session's files as they are written (standard mode).

        Its cached descriptors are trusted for 1 s, as a live origin's are: the packager replaces each playlist
        by rename, and a longer validity serves the old one (60 s gave its viewers stale playlists and stalls).
        """
        port = free_port()
        self.started += 1
        directory = self.root / f"nginx-{self.started}"
        directory.mkdir()
        process = start_nginx(directory, port, self.args, self.live_objects(), cache_valid="1s")
        server = Server("nginx", process, port, counted=False)
        self.servers.append(server)
        wait_for(f"{server.url}/{LIVE_MASTER_NAMES['standard']}", timeout=30)
        self._pin(server)
        return Layout("nginx", server.url, [server], store_reader=None,
                      paths={"standard": f"/{LIVE_MASTER_NAMES['standard']}"})  # fmt: skip

    def _edge_paths(self) -> dict[str, str]:
        catalog = self.catalog
        return {"ll": f"/{catalog.low_latency_playback}.m3u8", "standard": f"/{catalog.standard_playback}.m3u8",
                "vod": f"/{catalog.vod_playback}.m3u8"}  # fmt: skip

    def stop(self, layout: Layout) -> None:
        for server in layout.servers:
            _terminate(server.process)
            self.servers.remove(server)

    def close(self) -> None:
        for server in list(self.servers):
            _terminate(server.process)
        self.servers.clear()
        if self.publisher is not None:
            _terminate(self.publisher)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = task / "children"
            if children.exists():
                pending.extend(int(child) for child in children.read_text().split())
    return found


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Every thread of pid and of its descendants on `cpus` (what `taskset -a -p` does)."""
    for process in process_tree(pid):
        for task in Path(f"/proc/{process}/task").glob("*"):
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)
