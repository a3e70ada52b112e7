"""API requests/s with metrics on versus off, in one run. Target: on >= 0.9x off.

    .venv/bin/python bench/metrics_overhead.py [--rounds 5] [--seconds 5] [--connections 16] [--no-pin]
                                               [--registry multiprocess|process] [--schedule together|alternate]
                                               [--control]

Two API servers run as subprocesses (`python -m streamstack api`: uvicorn + uvloop + httptools, one
worker each) on free loopback ports, each over its own SQLite data dir seeded the same way (one admin key,
one asset), one with STREAMSTACK_METRICS_ENABLED=true and one with false. `wrk` (keep-alive, fixed
connections) sends the same mix to both: an authenticated `GET /v1/assets/{id}` and `GET /healthz`,
alternately. By default (`--schedule together`) each round loads both servers at once, and both servers
are pinned to the same CPU (wrk to the others, `taskset`): the kernel shares that CPU fairly between them
and whatever else runs there hits both alike. Unpinned on a busy 2-core box, an A/A run (`--control`)
spread 0.68x-1.95x; pinned, 0.94x-1.03x. `--schedule alternate` loads them one after the other.
Rounds alternate which server goes first; the ratio is taken per round and its median reported.
Besides wall requests/s the table shows requests per second of the server's own CPU time (/proc); the
target must hold for both. Last, the CPU the metrics middleware adds per request is measured in-process,
which no other load can blur. `--control` runs both servers with metrics off (an A/A test): the spread
of its ratios is this machine's noise floor.

`--registry multiprocess` (default) is the embedded `up` shape: PROMETHEUS_MULTIPROC_DIR is set and every
write goes to an mmap file. `--registry process` is the aws shape: one in-memory registry per process.
Debian package: wrk.
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path and bench/queue.py would shadow the stdlib `queue`.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402

TARGET = 0.9
WRK_SCRIPT = """
local paths = {{"/v1/assets/{asset_id}", "/healthz"}}
local headers = {{["Authorization"] = "Bearer {key}"}}
local turn = 0
request = function()
  turn = turn + 1
  return wrk.format("GET", paths[turn % 2 + 1], headers)
end
"""


@dataclass(frozen=True)
class Server:
    """One API subprocess: "on" or "off", where it listens."""

    label: str
    url: str
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class Run:
    requests_per_second: float
    requests: int
    bad_responses: int
    server_cpu_seconds: float

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of the server's own CPU: other load skews it far less than wall time."""
        return self.requests / self.server_cpu_seconds if self.server_cpu_seconds else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(data_dir: Path) -> tuple[str, str]:
    """A migrated catalog with one admin key and one asset, as `up` would leave it; returns (key, asset id)."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.assets.service import create_asset
    from streamstack.db.session import open_catalog, session_scope
    from streamstack.keys.service import create_api_key
    from streamstack.settings import Settings

    engine, sessions = open_catalog(Settings(data_dir=data_dir))
    with session_scope(sessions) as db_session:
        key = create_api_key(db_session=db_session, name="bench", scopes=["admin"]).secret
        asset_id = create_asset(db_session=db_session, new_asset_settings=NewAssetSettings()).id
    engine.dispose()
    return key, asset_id


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """The command under `taskset -c cpus`, or as is when not pinning."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def start_api(root: Path, label: str, *, metrics_on: bool, multiprocess: bool, cpus: str | None) -> Server:
    """`streamstack api` in its own process, logging to a file, with metrics switched by environment."""
    data_dir = root / label
    port = free_port()
    env = {
        **os.environ,
        "STREAMSTACK_DATA_DIR": str(data_dir),
        "STREAMSTACK_API_PORT": str(port),
        "STREAMSTACK_METRICS_ENABLED": str(metrics_on).lower(),
        "STREAMSTACK_AUTO_MIGRATE": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if metrics_on and multiprocess:
        (data_dir / "prometheus").mkdir(parents=True, exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(data_dir / "prometheus")
    with (root / f"{label}.log").open("wb") as log:
        process = subprocess.Popen(
            pinned([sys.executable, "-m", "streamstack", "api"], cpus), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(label, f"http://127.0.0.1:{port}", process)


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"API {server.label} exited with {server.process.returncode}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"API {server.label} not ready after {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """One wrk process under way against one server, with the server's CPU time when it started."""

    server: Server
    wrk: subprocess.Popen[str]
    cpu_before: float


@dataclass(frozen=True)
class Wrk:
    """How every load run is made: the request mix, connections, and where wrk runs."""

    script: Path
    connections: int
    cpus: str | None

    def start(self, server: Server, seconds: float) -> Load:
        command = ["wrk", "-t1", f"-c{self.connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(self.script)]
        cpu_before = cpu_seconds(server.process.pid)
        wrk = subprocess.Popen(pinned([*command, server.url], self.cpus), stdout=subprocess.PIPE, text=True)
        return Load(server, wrk, cpu_before)


def finish_wrk(load: Load) -> Run:
    """wrk's figures and the server's CPU meanwhile; non-2xx answers count, so a broken auth path cannot pass."""
    out, _ = load.wrk.communicate()
    cpu = cpu_seconds(load.server.process.pid) - load.cpu_before
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if load.wrk.returncode or rps is None or total is None:
        raise RuntimeError(f"wrk failed against {load.server.label}:\n{out}")
    failures = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return Run(float(rps.group(1)), int(total.group(1)), failures, cpu)


def run_round(servers: list[Server], wrk: Wrk, *, seconds: float, together: bool) -> dict[str, Run]:
    """Load the servers at once (same background load at every instant) or one after the other."""
    if together:
        loads = [wrk.start(server, seconds) for server in servers]
        return {load.server.label: finish_wrk(load) for load in loads}
    return {server.label: finish_wrk(wrk.start(server, seconds)) for server in servers}


def measure(servers: dict[str, Server], wrk: Wrk, args: argparse.Namespace) -> list[dict[str, Run]]:
    """A warm-up, then rounds that alternate which server is loaded (or started) first."""
    together = args.schedule == "together"
    pair = [servers["off"], servers["on"]]
    run_round(pair, wrk, seconds=1, together=together)
    return [
        run_round(pair if index % 2 == 0 else pair[::-1], wrk, seconds=args.seconds, together=together)
        for index in range(args.rounds)
    ]


async def _respond(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _cpu_seconds_per_request(app: Any, requests: int) -> float:
    """CPU time, not wall time: on a shared machine other processes stretch the latter many times over."""
    scope = {"type": "http", "method": "GET", "path": "/v1/assets/as_bench", "root_path": "", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict[str, Any]) -> None:
        return None

    start = time.process_time()
    for _ in range(requests):
        await app(scope, receive, send)
    return (time.process_time() - start) / requests


def metrics_path_seconds(directory: Path, *, multiprocess: bool, requests: int = 20_000) -> float:
    """CPU MetricsMiddleware adds per request to a no-op ASGI app, in this process (best of 5: noise only adds)."""
    from streamstack.observability import exposition, metrics

    if multiprocess:
        exposition.prepare_multiprocess(directory)
    metrics.configure_metrics(service="api", enabled=True)
    wrapped = exposition.MetricsMiddleware(_respond)
    bare = min(asyncio.run(_cpu_seconds_per_request(_respond, requests)) for _ in range(5))
    return min(asyncio.run(_cpu_seconds_per_request(wrapped, requests)) for _ in range(5)) - bare


def ratios(rounds: list[dict[str, Run]], figure: str) -> list[float]:
    """On over off for one figure, per round (each round's pair ran back to back)."""
    return [getattr(r["on"], figure) / getattr(r["off"], figure) for r in rounds]


def report(rounds: list[dict[str, Run]], args: argparse.Namespace, path_seconds: float) -> bool:
    """Per round and median: wall req/s and req per server CPU second; True when both medians meet the target."""
    wall, cpu = ratios(rounds, "requests_per_second"), ratios(rounds, "per_cpu_second")
    bad = sum(run.bad_responses for r in rounds for run in r.values())
    print(
        f"\nAPI with metrics {'OFF (A/A control)' if args.control else 'on'} vs off ({args.registry} registry, "
        f"loaded {args.schedule}), "
        f"wrk -t1 -c{args.connections} -d{args.seconds:g}s per run, "
        f"GET /v1/assets/{{id}} (Bearer) + GET /healthz alternately, "
        f"{os.cpu_count()} cores shared with wrk and anything else running"
    )
    print(
        f"{'round':>7} {'on req/s':>10} {'off req/s':>10} {'ratio':>7}   "
        f"{'on req/cpu-s':>13} {'off req/cpu-s':>14} {'ratio':>7}"
    )
    for index, r in enumerate(rounds):
        print(f"{index + 1:>7} {_row(r['on'], r['off'], wall[index], cpu[index])}")
    median_wall = [statistics.median(r[label].requests_per_second for r in rounds) for label in ("on", "off")]
    median_cpu = [statistics.median(r[label].per_cpu_second for r in rounds) for label in ("on", "off")]
    ok = min(statistics.median(wall), statistics.median(cpu)) >= TARGET and bad == 0
    print(
        f"{'median':>7} {median_wall[0]:>10.0f} {median_wall[1]:>10.0f} {statistics.median(wall):>6.3f}x   "
        f"{median_cpu[0]:>13.0f} {median_cpu[1]:>14.0f} {statistics.median(cpu):>6.3f}x"
    )
    off_cpu_per_request = 1 / median_cpu[1]
    print(
        f"in process: the metrics middleware adds {path_seconds * 1e6:.1f} us of CPU per request; the API spends "
        f"{off_cpu_per_request * 1e6:.0f} us of CPU per request with metrics off -> expected ratio "
        f"{off_cpu_per_request / (off_cpu_per_request + path_seconds):.3f}x"
    )
    print(f"target: on >= {TARGET}x off -> {'met' if ok else 'MISSED'}" + (f" ({bad} failed responses)" if bad else ""))
    return ok


def _row(on: Run, off: Run, wall_ratio: float, cpu_ratio: float) -> str:
    return (
        f"{on.requests_per_second:>10.0f} {off.requests_per_second:>10.0f} {wall_ratio:>6.3f}x   "
        f"{on.per_cpu_second:>13.0f} {off.per_cpu_second:>14.0f} {cpu_ratio:>6.3f}x"
    )


def cpu_split(pin: bool) -> tuple[str | None, str | None]:
    """Both servers on the first CPU (the scheduler shares it fairly between them), wrk on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2 or not shutil.which("taskset"):
        return None, None
    return str(cpus[0]), ",".join(map(str, cpus[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--registry", choices=("multiprocess", "process"), default="multiprocess")
    parser.add_argument("--schedule", choices=("together", "alternate"), default="together")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Pin both servers to one CPU and wrk to the others (taskset).",
    )
    parser.add_argument("--control", action="store_true", help="A/A: metrics off on both, to see the noise floor.")
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir (server logs) for inspection.")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("needs the Debian package wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="metrics-overhead-"))
    servers: dict[str, Server] = {}
    try:
        key, asset_id = seed(root / "on")
        shutil.copytree(root / "on", root / "off")  # same key and asset id on both sides
        script = root / "mix.lua"
        script.write_text(WRK_SCRIPT.format(asset_id=asset_id, key=key))
        server_cpus, wrk_cpus = cpu_split(args.pin)
        for label in ("on", "off"):
            on = label == "on" and not args.control
            servers[label] = start_api(
                root, label, metrics_on=on, multiprocess=args.registry == "multiprocess", cpus=server_cpus
            )
        for server in servers.values():
            wait_ready(server)
        rounds = measure(servers, Wrk(script, args.connections, wrk_cpus), args)
        path_seconds = metrics_path_seconds(root / "in-process", multiprocess=args.registry == "multiprocess")
        return 0 if report(rounds, args, path_seconds) else 1
    finally:
        for server in servers.values():
            server.process.terminate()
            server.process.wait(timeout=30)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
