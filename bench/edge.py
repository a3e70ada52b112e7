"""Edge delivery vs nginx on the same files: requests/s and p99 for a 1 MB segment and for a playlist.

    .venv/bin/python bench/edge.py [--seconds 5] [--connections 32] [--threads 1]

Both servers run on loopback in their own processes, one worker each (uvicorn + uvloop + httptools for
the edge; nginx with `sendfile on`, `open_file_cache` and keep-alive), and serve the same files from one
LocalObjectStore folder. The load generator is `wrk` (keep-alive, fixed connections, `--latency` for p99),
which runs on the same machine: on a 2-core box it takes one core, the server the other.
The edge serves a public playback id (no signature work; nginx has none), from its warm in-memory cache.

Coalescing is measured in-process: 1,000 concurrent requests for one cold key through the edge's ASGI
app, with an origin that takes 200 ms per read (like a distant S3), counting origin reads.

Debian packages: nginx, wrk. Targets: segments >= 0.5x nginx, playlists >= 0.3x nginx, p99 <= 2x nginx,
1,000 concurrent misses -> exactly 1 origin read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, this folder comes first on sys.path and bench/queue.py would shadow the stdlib `queue`.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

ASSET_ID = "benchasset"
PLAYBACK_ID = "benchpb"
SEGMENT_KEY = "720p/seg_00000.m4s"
PLAYLIST_KEY = "720p/index.m3u8"
SEGMENT_BYTES = 1024 * 1024
PLAYLIST_SEGMENTS = 150  # a 10-minute VOD rendition at 4 s segments
ORIGIN_DELAY = 0.2

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    types {{ application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }}
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {objects};
        etag on;
    }}
}}
"""


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def playlist_text() -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD",
             '#EXT-X-MAP:URI="init.mp4"']
    for index in range(PLAYLIST_SEGMENTS):
        lines += ["#EXTINF:4.000,", f"seg_{index:05d}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def prepare(root: Path):  # type: ignore[no-untyped-def]
    """Catalog + objects as the platform lays them out; returns the edge Platform."""
    from streamstack.assets.models import Asset, PlaybackId
    from streamstack.delivery.app import build_edge_platform
    from streamstack.settings import Settings

    settings = Settings(data_dir=root / "data", public_edge_url="http://127.0.0.1")
    platform = build_edge_platform(settings)
    platform.store.put(f"assets/{ASSET_ID}/{SEGMENT_KEY}", [os.urandom(SEGMENT_BYTES)])
    platform.store.put(f"assets/{ASSET_ID}/{PLAYLIST_KEY}", [playlist_text().encode()])
    platform.store.put(f"assets/{ASSET_ID}/720p/seg_00001.m4s", [os.urandom(SEGMENT_BYTES)])
    with platform.sessions() as session:
        session.add(Asset(id=ASSET_ID, status="ready"))
        session.add(PlaybackId(id=PLAYBACK_ID, asset_id=ASSET_ID, policy="public"))
        session.commit()
    return platform


def wait_for(url: str, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def start_edge(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STREAMSTACK_DATA_DIR": str(root / "data"), "STREAMSTACK_AUTO_MIGRATE": "false",
           "STREAMSTACK_PUBLIC_EDGE_URL": f"http://127.0.0.1:{port}"}
    command = [sys.executable, "-m", "uvicorn", "streamstack.delivery.app:edge_app_from_settings", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
               "--no-access-log", "--log-level", "warning", "--backlog", "4096"]
    return subprocess.Popen(command, env=env, cwd=root)


def start_nginx(root: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (root / "tmp").mkdir(exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = NGINX_CONF.format(user=user, root=root, port=port, objects=root / "data" / "objects" / "assets" / ASSET_ID)
    (root / "nginx.conf").write_text(conf)
    return subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")])


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, *, seconds: float, connections: int, threads: int) -> Result:
    """wrk's own figures: Requests/sec and the 99% line of --latency."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    subprocess.run([*command[:3], "-d1s", url], capture_output=True, check=True)  # warm-up
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?timeout)\s*:?\s*(\d+)",
                                            output))
    return Result(rps, float(value) * _UNITS[unit], errors)


class SlowCountingStore:
    """The real store behind an origin that takes ORIGIN_DELAY per read; counts body reads."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.bucket, self.reads = inner, inner.bucket, 0
        self._lock = threading.Lock()

    def get(self, key, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.reads += 1
        time.sleep(ORIGIN_DELAY)
        return self.inner.get(key, **kwargs)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


async def coalescing(platform) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(origin reads, coalesced, 200 responses) for 1,000 concurrent requests on one cold key."""
    import httpx

    from streamstack.delivery.app import create_edge_app

    edge = create_edge_app(platform)
    store = SlowCountingStore(platform.store)
    edge.store = store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://127.0.0.1") as http:
        await http.get(f"/{PLAYBACK_ID}/{PLAYLIST_KEY}")
        store.reads = 0
        responses = await asyncio.gather(*(http.get(f"/{PLAYBACK_ID}/720p/seg_00001.m4s") for _ in range(1000)))
    ok = sum(r.status_code == 200 and len(r.content) == SEGMENT_BYTES for r in responses)
    return store.reads, edge.objects.stats.coalesced, ok


def row(name: str, edge: float, nginx: float, target: str, ok: bool) -> str:
    ratio = edge / nginx if nginx else float("inf")
    return f"{name:<22} {edge:>12,.1f} {nginx:>12,.1f} {ratio:>7.2f}x   {target:<12} {'PASS' if ok else 'FAIL'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk") or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("needs the Debian packages wrk and nginx: apt-get install -y wrk nginx", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        root = Path(tmp)
        platform = prepare(root)
        edge_port, nginx_port = free_port(), free_port()
        servers = [start_edge(root, edge_port), start_nginx(root, nginx_port)]
        try:
            edge_base, nginx_base = f"http://127.0.0.1:{edge_port}/{PLAYBACK_ID}", f"http://127.0.0.1:{nginx_port}"
            wait_for(f"{edge_base}/{PLAYLIST_KEY}")
            wait_for(f"{nginx_base}/{PLAYLIST_KEY}")
            results = {}
            for label, key in (("segment 1 MB", SEGMENT_KEY), ("playlist", PLAYLIST_KEY)):
                for server, base in (("edge", edge_base), ("nginx", nginx_base)):
                    results[label, server] = run_wrk(f"{base}/{key}", seconds=args.seconds,
                                                     connections=args.connections, threads=args.threads)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=10)
        reads, coalesced, ok = asyncio.run(coalescing(platform))
        platform.close()

    print(f"\nedge vs nginx, loopback, keep-alive, wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s, "
          f"1 worker each, {os.cpu_count()} cores shared with wrk")
    print(f"{'':<22} {'edge':>12} {'nginx':>12} {'ratio':>8}   {'target':<12} result")
    for label, floor in (("segment 1 MB", 0.5), ("playlist", 0.3)):
        edge, nginx = results[label, "edge"], results[label, "nginx"]
        print(row(f"{label} req/s", edge.requests_per_second, nginx.requests_per_second, f">= {floor}x",
                  edge.requests_per_second >= floor * nginx.requests_per_second))
        print(row(f"{label} p99 ms", edge.p99_ms, nginx.p99_ms, "<= 2.0x", edge.p99_ms <= 2 * nginx.p99_ms))
        if edge.errors or nginx.errors:
            print(f"  errors: edge {edge.errors}, nginx {nginx.errors}")
    print(f"coalescing: 1,000 concurrent misses -> {reads} origin read(s) "
          f"({coalesced} coalesced, {ok} x 200 OK; origin latency {ORIGIN_DELAY * 1000:.0f} ms)   "
          f"target 1   {'PASS' if reads == 1 else 'FAIL'}")
    print(f"total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
