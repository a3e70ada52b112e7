"""Edge delivery vs nginx on the same files: requests/s and p99 for a 1 MB segment and for a playlist.

    .venv/bin/python bench/edge.py [--seconds 4] [--rounds 3] [--connections 32] [--workers 1]
                                   [--server granian|uvicorn]

Each server runs on loopback in its own process, one worker each by default (granian + uvloop for the
edge, as `streamstack edge` runs it; nginx with `sendfile on`, `open_file_cache` and keep-alive), serving the
same files from one LocalObjectStore folder. A third column, the "ceiling", is a bare ASGI app under the same
server answering the same bytes from memory: what the ASGI server alone can do. Requests per second of
server CPU time are printed too: on a shared machine they move less than requests per second.
The load generator is `wrk` (keep-alive, fixed connections, `--latency` for p99) on the same machine;
on a 2-core box it takes one core, the server the other. The edge serves a public playback id (no
signature work; nginx does none) from its warm in-memory cache, the playlist from the whole answer it
keeps for a public playlist. `--server uvicorn` runs the edge and the ceiling under uvicorn (uvloop +
httptools) instead.

The edge's own request path is also timed in-process, in CPU microseconds per request beside a bare
ASGI app (no server, no socket): the figure that says where the time goes when the machine is shared.
Coalescing is measured in-process: 1,000 concurrent requests for one cold key through the edge's ASGI
app, with an origin that takes 200 ms per read (like a distant S3), counting origin reads.

Debian packages: nginx, wrk. Targets: segments >= 0.8x nginx, playlists >= 0.45x nginx, p99 <= 2x nginx,
1,000 concurrent misses -> exactly 1 origin read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
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
worker_processes {workers};
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
    open_file_cache_valid {cache_valid};
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
    requests: int
    server_cpu_seconds: float

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of server CPU: robust to other load on a shared machine."""
        return self.requests / self.server_cpu_seconds if self.server_cpu_seconds else 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the server processes (and their reaped children), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


def server_pids(process: subprocess.Popen[bytes]) -> list[int]:
    """The process and its direct children (nginx's worker)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [process.pid, *(int(pid) for pid in children.read_text().split())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def playlist_text() -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        '#EXT-X-MAP:URI="init.mp4"',
    ]
    for index in range(PLAYLIST_SEGMENTS):
        lines += ["#EXTINF:4.000,", f"seg_{index:05d}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def prepare(root: Path):  # type: ignore[no-untyped-def]
    """Catalog + objects as the platform lays them out; returns the edge Platform."""
    from streamstack.assets.models import Asset, PlaybackId
    from streamstack.platform import build_platform
    from streamstack.settings import Settings

    settings = Settings(data_dir=root / "data", public_edge_url="http://127.0.0.1")
    platform = build_platform(settings, with_queues=False)
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


CEILING_APP = """
from pathlib import Path

ROOT = Path({objects!r})
BODIES = {{"/" + key: (ROOT / key).read_bytes() for key in {keys!r}}}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({{"type": "lifespan.startup.complete"}})
        await send({{"type": "lifespan.shutdown.complete"}})
        return
    body = BODIES[scope["path"]]
    await send({{"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", b"%d" % len(body))]}})
    await send({{"type": "http.response.body", "body": body}})
"""
EDGE_ENTRY = "from streamstack.delivery.app import edge_app_from_settings\n\napp = edge_app_from_settings()\n"


GRANIAN_ENTRY = (
    "from streamstack.delivery.server import serve_edge\n"
    "serve_edge({target!r}, address='127.0.0.1', port={port}, workers={workers}, log_level='warning')\n"
)


def asgi_command(server: str, module: str, port: int, workers: int, root: Path) -> list[str]:
    """granian as `streamstack edge` runs it (delivery/server.py, runtime options included), or uvicorn (uvloop +
    httptools); `module:app` lives in root."""
    if server == "granian":
        return [sys.executable, "-c", GRANIAN_ENTRY.format(target=f"{module}:app", port=port, workers=workers)]
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--backlog", "4096"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--log-level",
        "warning",
        "--app-dir",
        str(root),
        *common,
        f"{module}:app",
    ]


def start_asgi(
    root: Path, module: str, source: str, port: int, args: argparse.Namespace, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`module:app` (source) under the chosen server, over root/data; extra_env adds or overrides settings."""
    (root / f"{module}.py").write_text(source)
    env = {
        **os.environ,
        "STREAMSTACK_DATA_DIR": str(root / "data"),
        "STREAMSTACK_AUTO_MIGRATE": "false",
        "STREAMSTACK_PUBLIC_EDGE_URL": f"http://127.0.0.1:{port}",
        "STREAMSTACK_EDGE_ADMIN_PORT": "0",  # no operator listener: the bench measures the public port only
        "STREAMSTACK_LOG_LEVEL": "WARNING",
        "STREAMSTACK_METRICS_ENABLED": "false" if args.no_metrics else "true",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        **(extra_env or {}),
    }
    return subprocess.Popen(asgi_command(args.server, module, port, args.workers, root), env=env, cwd=root)


def start_edge(root: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    return start_asgi(root, "edge_entry", EDGE_ENTRY, port, args)


def start_ceiling(root: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """The server's own ceiling: a bare ASGI app answering the same bytes from memory, no routing, no checks."""
    source = CEILING_APP.format(objects=str(objects_dir(root)), keys=[SEGMENT_KEY, PLAYLIST_KEY])
    return start_asgi(root, "ceiling_app", source, port, args)


def objects_dir(root: Path) -> Path:
    return root / "data" / "objects" / "assets" / ASSET_ID


def start_nginx(
    root: Path, port: int, args: argparse.Namespace, objects: Path | None = None, *, cache_valid: str = "60s"
) -> subprocess.Popen[bytes]:
    """nginx (sendfile, open_file_cache, keep-alive) serving `objects` (the bench asset's folder by default).

    `cache_valid` is how long nginx trusts a cached descriptor before looking at the path again: 60 s suits
    files that never change (the bench's VOD asset); live playlists, replaced by rename, need 1 s.
    """
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (root / "tmp").mkdir(exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    objects = objects or objects_dir(root)
    conf = NGINX_CONF.format(user=user, root=root, port=port, objects=objects, workers=args.workers,
                             cache_valid=cache_valid)  # fmt: skip
    (root / "nginx.conf").write_text(conf)
    return subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")])


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, server: subprocess.Popen[bytes], *, seconds: float, connections: int, threads: int) -> Result:
    """wrk's own figures (Requests/sec, the 99% line of --latency) and the server's CPU time meanwhile."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    subprocess.run([*command[:3], "-d1s", url], capture_output=True, check=True)  # warm-up
    pids = server_pids(server)
    cpu_before = cpu_seconds(pids)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pids) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    errors = sum(
        int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?timeout)\s*:?\s*(\d+)", output)
    )
    return Result(rps, float(value) * _UNITS[unit], errors, requests, cpu)


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


def asgi_scope(path: str) -> dict:  # type: ignore[type-arg]
    """A GET as granian hands it over (it offers pathsend)."""
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")], "scheme": "http", "http_version": "1.1",
            "client": ("127.0.0.1", 1), "extensions": {"http.response.pathsend": {}}}  # fmt: skip


async def cpu_per_request(app, path: str, count: int) -> float:  # type: ignore[no-untyped-def]
    """Microseconds of this process's CPU per request through `app` alone, no server, no socket."""

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        return None

    for _ in range(count // 10):  # warm: caches filled, labelled metric children created
        await app(asgi_scope(path), receive, send)
    started = time.process_time()
    for _ in range(count):
        await app(asgi_scope(path), receive, send)
    return (time.process_time() - started) / count * 1e6


async def bare_asgi(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def request_path_cost(platform, count: int = 20_000) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The edge's own request path in CPU time: steady on a shared machine, where req/s are not."""
    from streamstack.delivery.app import create_edge_app

    edge = create_edge_app(platform)
    return {
        "segment 1 MB": await cpu_per_request(edge, f"/{PLAYBACK_ID}/{SEGMENT_KEY}", count),
        "playlist": await cpu_per_request(edge, f"/{PLAYBACK_ID}/{PLAYLIST_KEY}", count),
        "bare ASGI app": await cpu_per_request(bare_asgi, "/", count),
    }


def row(name: str, edge: float, nginx: float, ceiling: float, target: str, ok: bool | None) -> str:
    ratio = edge / nginx if nginx else float("inf")
    verdict = "" if ok is None else "PASS" if ok else "FAIL"
    return f"{name:<20} {edge:>10,.1f} {nginx:>10,.1f} {ratio:>6.2f}x {ceiling:>10,.1f}   {target:<9} {verdict}"


def measure(root: Path, args: argparse.Namespace) -> dict[tuple[str, str], Result]:
    """The three servers side by side, measured in turn, `args.rounds` times: each figure is the median round.

    Interleaving rounds spreads whatever else the machine runs over all three servers alike, where one
    pass per server could give one of them a quiet moment and another a busy one.
    """
    starts = {"edge": (start_edge, f"/{PLAYBACK_ID}"), "nginx": (start_nginx, ""), "ceiling": (start_ceiling, "")}
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    rounds: dict[tuple[str, str], list[Result]] = {}
    try:
        for name, (start, prefix) in starts.items():
            port = free_port()
            servers[name] = (start(root, port, args), f"http://127.0.0.1:{port}{prefix}")
            wait_for(f"{servers[name][1]}/{PLAYLIST_KEY}")
        for _ in range(args.rounds):
            for label, key in (("segment 1 MB", SEGMENT_KEY), ("playlist", PLAYLIST_KEY)):
                for name, (server, base) in servers.items():
                    rounds.setdefault((label, name), []).append(run_wrk(
                        f"{base}/{key}", server, seconds=args.seconds, connections=args.connections,
                        threads=args.threads))  # fmt: skip
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)
    return {key: median_result(results) for key, results in rounds.items()}


def median_result(results: list[Result]) -> Result:
    """Median requests/s and p99 of the rounds; requests, errors and CPU time summed over them."""
    return Result(statistics.median(r.requests_per_second for r in results),
                  statistics.median(r.p99_ms for r in results), sum(r.errors for r in results),
                  sum(r.requests for r in results), sum(r.server_cpu_seconds for r in results))  # fmt: skip


def report(results: dict[tuple[str, str], Result], args: argparse.Namespace) -> None:
    print(
        f"\nloopback, keep-alive, wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency; "
        f"{args.workers} worker(s) per server; {os.cpu_count()} cores shared with wrk; median of {args.rounds} "
        f"interleaved rounds (req/CPU-s over all of them)"
    )
    print(
        f"edge under {args.server}; ceiling = a bare ASGI app under {args.server} answering the same bytes "
        f"from memory (what the server alone can do)"
    )
    print(f"edge metrics (Prometheus): {'off' if args.no_metrics else 'on, as by default'}")
    print(f"{'':<20} {'edge':>10} {'nginx':>10} {'ratio':>7} {'ceiling':>10}   {'target':<9} result")
    for label, floor in (("segment 1 MB", 0.8), ("playlist", 0.45)):
        edge, nginx, ceiling = (results[label, name] for name in ("edge", "nginx", "ceiling"))
        print(
            row(
                f"{label} req/s",
                edge.requests_per_second,
                nginx.requests_per_second,
                ceiling.requests_per_second,
                f">= {floor}x",
                edge.requests_per_second >= floor * nginx.requests_per_second,
            )
        )
        print(
            row(
                f"{label} p99 ms", edge.p99_ms, nginx.p99_ms, ceiling.p99_ms, "<= 2.0x", edge.p99_ms <= 2 * nginx.p99_ms
            )
        )
        print(
            row(f"{label} req/CPU-s", edge.per_cpu_second, nginx.per_cpu_second, ceiling.per_cpu_second, "(info)", None)
        )
        errors = {name: results[label, name].errors for name in ("edge", "nginx", "ceiling")}
        if any(errors.values()):
            print(f"  errors: {errors}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="each server measured this many times, interleaved")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="edge workers and nginx worker_processes")
    parser.add_argument("--no-metrics", action="store_true", help="run the edge with STREAMSTACK_METRICS_ENABLED=false")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="granian",
        help="ASGI server of the edge and the ceiling (granian is what `streamstack edge` runs)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk") or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("needs the Debian packages wrk and nginx: apt-get install -y wrk nginx", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        platform = prepare(Path(tmp))
        results = measure(Path(tmp), args)
        reads, coalesced, ok = asyncio.run(coalescing(platform))
        costs = asyncio.run(request_path_cost(platform))
        platform.close()
    report(results, args)
    print("request path in-process, CPU per request (no server, no socket): " + ", ".join(
        f"{name} {micros:.1f} us" for name, micros in costs.items()))  # fmt: skip
    print(
        f"coalescing: 1,000 concurrent misses -> {reads} origin read(s) ({coalesced} coalesced, {ok} x 200 OK; "
        f"in-process, origin latency {ORIGIN_DELAY * 1000:.0f} ms)   target 1   {'PASS' if reads == 1 else 'FAIL'}"
    )
    print(
        f"total {time.monotonic() - started:.1f} s; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores: above that, other processes shared the CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
