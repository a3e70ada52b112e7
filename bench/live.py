"""Benchmark live: our RTMP -> LL-HLS pipeline beside nginx-rtmp's own HLS (hls_fragment 2s), same run.

    .venv/bin/python bench/live.py [--seconds 30] [--skip-speed] [--skip-glass]

One publisher (ffmpeg -re without the initial burst, 1280x720 at 30 fps testsrc2 + sine, a keyframe every 2 s
as OBS sends, its wall clock burnt into every frame) publishes to our ingest (nginx-rtmp + on_publish + one
encoder with three rungs + the packager), then the same publisher to a plain nginx-rtmp with `hls on;
hls_fragment 2s` (the anchor). The origin (the object store / nginx's hls_path) is polled every 10 ms, so
each figure is when a player could first fetch the media, not when it chose to:
  - ingest -> first playable: publisher start to the first part (ours) / first segment (anchor);
  - availability behind real time, p50/p95: when a part (ours) or segment (anchor) appears, minus the
    capture time of the end of its media (the clock read from its segment's first frame, plus durations);
  - PROGRAM-DATE-TIME minus capture: each segment's date in the playlist minus the clock of its first
    frame (0 when the date is true; one frame is 0.033 s);
  - transcoder speed: the same live command fed as fast as it can go from a 720p30 file (target >= 1.2x);
  - CPU per stream: CPU seconds of the ingest's encoder per second of wall clock during the live run;
  - glass-to-glass in hls.js (headless Chromium, `--skip-glass` to leave it out): the publisher burns its wall
    clock into every frame as a 24-bit barcode of milliseconds (ffmpeg stamps each frame with RTCTIME the moment
    -re releases it, i.e. its capture), and the page decodes the barcode of the frame on screen every 250 ms:
    Date.now() minus that capture time is glass to glass (publisher -> ingest -> encoder -> packager -> edge ->
    hls.js buffer -> display). Same machine, same clock. Ours in lowLatencyMode and in standard mode play the
    same publish side by side; the anchor is hls.js (standard) on nginx-rtmp's HLS. Beside it, the usual
    estimate: Date.now() minus hls.playingDate (the PROGRAM-DATE-TIME of the frame on screen), which misses
    the time before the packager stamps the date (publisher, ingest and encoder).
Goals (issue 12): first playable <= 3 s, availability p50 <= 1.5 s / p95 <= 2.5 s, speed >= 1.2x,
glass-to-glass p50 <= 3 s / p95 <= 5 s in low-latency mode and <= 10 s in standard mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from math import nan
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import imageio_ffmpeg  # noqa: E402

from streamstack.delivery.live import BlockingRequest, LivePlaylists, NotYetAvailable  # noqa: E402
from streamstack.live.ingest import (  # noqa: E402
    RTMP_MODULE,
    LiveIngest,
    find_nginx,
    nginx_config,
    run_ingest,
    serve_callbacks,
    start_nginx,
    wait_for_port,
)
from streamstack.live.models import LiveStreamCreate  # noqa: E402
from streamstack.live.service import create_live_stream, playback_ids_of  # noqa: E402
from streamstack.media.live import LIVE_LADDER, build_live_command, plan_live  # noqa: E402
from streamstack.media.live_packager import LivePackager  # noqa: E402
from streamstack.media.probe import Probe  # noqa: E402
from streamstack.platform import Platform, build_platform  # noqa: E402
from streamstack.settings import Settings  # noqa: E402
from streamstack.storage.base import Changed, ConditionalStore, ObjectInfo, ObjectStore  # noqa: E402

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# Each input read at its capture rate from its first frame, as a camera and a live encoder deliver it: by default
# ffmpeg >= 6.1 (`-readrate_initial_burst`, 0.5 s) sends the first half second at once and then runs that far ahead
# of the clock. The burst cannot be set to 0 (0 means the default), so 1 ms: less than a frame.
REAL_TIME = ["-re", "-readrate_initial_burst", "0.001"]
POLL = 0.01
VIEWERS = 3
_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"')
_PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="(\d+)\.(\d+)\.m4s"')
_EXTINF = re.compile(r"#EXTINF:([\d.]+),\s*\n(\S+)")
_SEGMENT_URI = re.compile(r"^(\d+)\.m4s$")
CHROMIUM = Path("/usr/bin/chromium")
HLS_JS = Path(__file__).resolve().parents[1] / "src/streamstack/web/static/vendor/hls.min.js"
CLOCK_BITS = 24  # milliseconds modulo 2^24 (4.6 h): enough to place a frame within a minute of now
CLOCK_BAR = 48  # pixels: the barcode's height at the top of the 720p picture
# Every frame gets its wall clock (RTCTIME, the moment -re releases it) as timestamps for a barcode of it,
# then back to 30 fps timestamps. The barcode:
# a white guard cell, 24 bits of milliseconds (least significant first), a black guard cell.
CLOCK_FILTER = (
    "[0:v]settb=1/1000,setpts=RTCTIME/1000,split[main][stamp];"
    f"[stamp]crop={CLOCK_BITS + 2}:2:0:0,"
    f"geq=lum='if(eq(X,0),255,if(eq(X,{CLOCK_BITS + 1}),0,"
    f"255*mod(floor(mod(floor(T*1000),{2**CLOCK_BITS})/pow(2,X-1)),2)))':cb=128:cr=128,"
    f"scale=1280:{CLOCK_BAR}:flags=neighbor[bar];"
    "[main][bar]overlay=0:0,setpts=N/(30*TB)[video]"
)



def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publisher(url: str, seconds: int, *, clock: bool = False) -> subprocess.Popen[bytes]:
    """720p30 + a tone in real time; `clock` burns each frame's wall clock into it (CLOCK_FILTER)."""
    video = ["-filter_complex", CLOCK_FILTER, "-map", "[video]", "-map", "1:a"] if clock else []
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", *REAL_TIME,
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         *REAL_TIME, "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}", *video,
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "3M",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def watch(path: Path, pattern: re.Pattern[str], started: float, stop: threading.Event,
          keep: Callable[[str, str], None] = lambda uri, text: None) -> dict[str, float]:
    """URI -> wall clock (since publisher start) when the playlist first named it; `keep(uri, playlist)` then."""
    seen: dict[str, float] = {}
    durations: dict[str, float] = {}
    while not stop.is_set():
        try:
            text = path.read_text()
        except OSError:
            text = ""
        now = time.monotonic() - started
        for match in pattern.finditer(text):
            uri = match.group(2) if pattern is _EXTINF else f"{match.group(2)}.{match.group(3)}"
            if uri not in seen:
                seen[uri], durations[uri] = now, float(match.group(1))
                keep(uri, text)
        time.sleep(POLL)
    return {uri: seen[uri] for uri in seen} | {f"dur:{uri}": d for uri, d in durations.items()}


def captured_at(media: bytes, started: float, tmp: Path) -> float | None:
    """When the publisher captured the first frame of `media` (its burnt-in clock, CLOCK_FILTER), in seconds since
    `started` (monotonic); None when the barcode does not read."""
    sample = tmp / "clock-sample"
    sample.write_bytes(media)
    row = subprocess.run([FFMPEG, "-v", "error", "-i", str(sample), "-frames:v", "1", "-vf",
                          f"format=gray,crop=1280:1:0:{CLOCK_BAR // 2}", "-f", "rawvideo", "-"],
                         capture_output=True, check=False).stdout  # fmt: skip
    cells = CLOCK_BITS + 2
    if len(row) < 1280:
        return None
    bits = [1 if row[int((i + 0.5) * 1280 / cells)] > 127 else 0 for i in range(cells)]
    if bits[0] != 1 or bits[-1] != 0:
        return None
    code = sum(bit << i for i, bit in enumerate(bits[1:-1]))
    now_ms = int(time.time() * 1000)
    wall = (now_ms - (now_ms - code) % 2**CLOCK_BITS) / 1000  # the latest time with that code: under 4.6 h ago
    return wall - time.time() + time.monotonic() - started


def capture_starts(kept: dict[str, bytes], started: float, tmp: Path) -> dict[str, float]:
    """Segment -> capture time of its first frame, for the segments whose clock reads."""
    return {segment: at for segment, media in kept.items() if (at := captured_at(media, started, tmp)) is not None}


def lags(seen: dict[str, float], starts: dict[str, float]) -> tuple[float, dict[str, float]]:
    """First availability, and per unit its availability minus the capture time of its last frame's end.

    `starts`: the capture time of each segment's first frame (its clock barcode); a part's media ends its
    segment's parts' durations after that."""
    units = sorted((t, uri) for uri, t in seen.items() if not uri.startswith("dur:"))
    ends: dict[str, float] = {}
    out = {}
    for available, uri in units:
        segment = uri.removesuffix(".ts").split(".")[0]
        if segment not in starts:
            continue
        ends[segment] = ends.get(segment, starts[segment]) + seen[f"dur:{uri}"]
        out[uri] = available - ends[segment]
    return (units[0][0] if units else float("nan")), out


def program_date_times(text: str) -> dict[str, float]:
    """Segment number -> its EXT-X-PROGRAM-DATE-TIME (epoch seconds), from an LL-HLS playlist."""
    out, date = {}, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
        elif date is not None and (found := _PART.match(line) or _SEGMENT_URI.match(line)) is not None:
            out.setdefault(found.group(2) if found.re is _PART else found.group(1), date)  # the segment's first line
            date = None
    return out


@contextmanager
def our_ingest(tmp: Path, name: str) -> Iterator[Platform]:
    """Our ingest as `streamstack up` runs it (nginx-rtmp, the callbacks, supervision) on a fresh data dir."""
    settings = Settings(data_dir=tmp / name, rtmp_port=free_port(), srt_port=0, api_port=free_port(),
                        edge_port=free_port(), metrics_enabled=False, log_json=False)  # fmt: skip
    platform = build_platform(settings)
    stop = threading.Event()
    runner = threading.Thread(target=run_ingest, args=(platform, stop), name="ingest", daemon=True)
    runner.start()
    try:
        assert wait_for_port("127.0.0.1", settings.rtmp_port), "nginx-rtmp never listened"
        yield platform
    finally:
        stop.set()
        runner.join(timeout=30)
        platform.close()


def new_stream(platform: Platform) -> tuple[str, str]:
    """A live stream (low latency, public): its publish URL and its playback id."""
    with platform.sessions() as db_session:
        stream = create_live_stream(db_session=db_session, body=LiveStreamCreate(reconnect_window=1),
                                    settings=platform.settings)  # fmt: skip
        db_session.commit()
        playback = playback_ids_of(db_session, stream)[0].id
        return f"rtmp://127.0.0.1:{platform.settings.rtmp_port}/live/{stream.stream_key}", playback


def run_ours(tmp: Path, seconds: int) -> dict[str, float]:
    settings = Settings(data_dir=tmp / "ours", rtmp_port=free_port(), api_port=free_port(), edge_port=free_port(),
                        metrics_enabled=False, log_json=False)  # fmt: skip
    platform = build_platform(settings)
    ingest = LiveIngest(platform, settings.rtmp_port)
    callbacks = serve_callbacks(ingest)
    run_dir = tmp / "ours-nginx"
    nginx = start_nginx(nginx_config(run_dir=run_dir, rtmp_host="127.0.0.1", rtmp_port=settings.rtmp_port,
                                     callback_url=f"http://127.0.0.1:{callbacks.server_address[1]}"), run_dir)
    threading.Thread(target=ingest.supervise, daemon=True).start()
    assert wait_for_port("127.0.0.1", settings.rtmp_port)
    with platform.sessions() as db_session:
        stream = create_live_stream(db_session=db_session, body=LiveStreamCreate(reconnect_window=1),
                                    settings=settings)  # fmt: skip
        db_session.commit()
        key = stream.stream_key
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop = threading.Event()
    result: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    proc = publisher(f"rtmp://127.0.0.1:{settings.rtmp_port}/live/{key}", seconds, clock=True)
    playlist: Path | None = None
    while playlist is None and time.monotonic() - started < 30:
        found = list(settings.objects_dir.rglob("720p/ll.m3u8"))
        playlist = found[0] if found else None
        time.sleep(POLL)
    assert playlist is not None, "no LL playlist appeared"
    timeline = wait_for_timeline(ingest, started)
    kept: dict[str, bytes] = {}  # segment -> init + its first part (a keyframe first), while the session keeps them
    dates: dict[str, float] = {}

    def keep(uri: str, text: str) -> None:
        segment, part = uri.split(".")
        if part == "0":
            init = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1]
            with contextlib.suppress(OSError):
                kept[segment] = (playlist.parent / init).read_bytes() + (playlist.parent / f"{uri}.m4s").read_bytes()
            dates.update(program_date_times(text) | dates)

    watcher = threading.Thread(target=lambda: result.setdefault("seen", watch(playlist, _PART, started, stop, keep)))
    watcher.start()
    key = playlist.relative_to(settings.objects_dir).as_posix()
    publishing_ended = threading.Event()
    viewers = threading.Thread(target=lambda: result.setdefault("edge", asyncio.run(
        edge_viewers(platform.store, key, started, publishing_ended, stop))))  # fmt: skip
    viewers.start()
    _, _, publisher_usage = os.wait4(proc.pid, 0)  # the publisher's own CPU is not the stream's cost
    publish_seconds = time.monotonic() - started
    publishing_ended.set()
    time.sleep(4)
    stop.set()
    watcher.join()
    viewers.join()
    ingest.stop()
    nginx.terminate()
    nginx.wait()
    callbacks.shutdown()
    platform.close()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    cpu -= publisher_usage.ru_utime + publisher_usage.ru_stime
    starts = capture_starts(kept, started, tmp)
    first, lag = lags(result["seen"], starts)
    # the packager's date of each segment minus the capture of its first frame: 0 when PROGRAM-DATE-TIME is true
    wall = time.time() - time.monotonic() + started
    date_errors = [dates[segment] - (wall + at) for segment, at in starts.items() if segment in dates]
    edge_seen, origin_reads, versions, parts_while_live = result["edge"]
    edge_delay = [edge_seen[uri] - result["seen"][uri] for uri in edge_seen if uri in result["seen"]]
    edge_lag = [lag[uri] + edge_seen[uri] - result["seen"][uri] for uri in edge_seen if uri in lag]
    return {"edge_p50": percentile(edge_lag, 0.5), "edge_p95": percentile(edge_lag, 0.95),
            "edge_delay_p50": percentile(edge_delay, 0.5), "edge_delay_p95": percentile(edge_delay, 0.95),
            "edge_reads_per_part": origin_reads / max(1, parts_while_live), "edge_versions": versions,
            "edge_reads_per_second": origin_reads / max(1e-9, publish_seconds), "edge_parts": parts_while_live,
            "first": first, "p50": percentile(list(lag.values()), 0.5),
            "p95": percentile(list(lag.values()), 0.95), "units": len(lag), "cpu": cpu / publish_seconds,
            "timeline": timeline, "date_p50": percentile(date_errors, 0.5), "date_min": min(date_errors, default=nan),
            "date_max": max(date_errors, default=nan), "dated": len(date_errors)}


class CountingStore:
    """The object store, counting the edge's requests to it: HEAD, GET and conditional GET alike (each is one S3
    request; on the local folder a conditional GET is an open and an fstat, and the read when the file changed)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store, self.reads = store, 0

    def head(self, key: str) -> ObjectInfo:
        self.reads += 1
        return self.store.head(key)

    def get(self, key: str, **kwargs: Any) -> Iterator[bytes]:
        self.reads += 1
        return self.store.get(key, **kwargs)

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        self.reads += 1
        assert isinstance(self.store, ConditionalStore)
        return self.store.get_if_changed(key, etag)


async def edge_viewers(store: ObjectStore, key: str, started: float, publishing_ended: threading.Event,
                       stop: threading.Event, count: int = VIEWERS) -> tuple[dict[str, float], int, int, int]:
    """VIEWERS players on the edge's blocking reload, each asking for the hinted part: (part -> when answered,
    and while the publisher ran: origin requests, versions read, parts answered)."""
    counting = CountingStore(store)
    live = LivePlaylists(counting, asyncio.to_thread)  # type: ignore[arg-type]
    answered: dict[str, float] = {}

    async def viewer() -> None:
        body, _ = await live.playlist(key, BlockingRequest())
        while not stop.is_set():
            hint = _HINT.search(body.decode())
            if hint is None:
                return
            msn, part = int(hint.group(1)), int(hint.group(2))
            try:
                body, _ = await live.playlist(key, BlockingRequest(msn, part))
            except NotYetAvailable:
                continue
            for found in _PART.finditer(body.decode()):
                answered.setdefault(f"{found.group(2)}.{found.group(3)}", time.monotonic() - started)

    tasks = [asyncio.create_task(viewer()) for _ in range(count)]
    while not publishing_ended.is_set() and not stop.is_set():
        await asyncio.sleep(0.05)
    # while the stream runs; after it, the watch looks closely for 1.5 s (a late part), then backs off
    requests, versions, ended = counting.reads, live.origin_reads, time.monotonic() - started
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    first = min(answered.values(), default=0.0)  # the first body names earlier parts: count from the first reload
    during = {uri: at for uri, at in answered.items() if at > first}
    return during, requests, versions, sum(1 for at in during.values() if at <= ended)


def wait_for_timeline(ingest: LiveIngest, started: float) -> dict[str, float]:
    """Where the first part's time went: each stage of the session's first connection, since publisher start."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for running in list(ingest.sessions.values()):
            if not hasattr(running.session, "timeline"):
                return {}  # an ingest that does not profile its connections
            if "first_part" in running.session.timeline:
                return {stage: at - started for stage, at in running.session.timeline.items()}
        time.sleep(POLL)
    return {}


@contextmanager
def anchor_nginx(tmp: Path, name: str) -> Iterator[tuple[str, Path, str]]:
    """A plain nginx-rtmp with `hls on; hls_fragment 2s`, its HLS served over HTTP: (rtmp URL, hls dir, http URL)."""
    run, port, http_port = tmp / name, free_port(), free_port()
    hls = run / "hls"
    hls.mkdir(parents=True)
    conf = run / "nginx.conf"
    conf.write_text(f"""daemon off; master_process off; worker_processes 1;
pid {run}/nginx.pid; error_log {run}/error.log warn; load_module {RTMP_MODULE};
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; hls on; hls_path {hls};
    hls_fragment 2s; hls_playlist_length 20s; }} }} }}
http {{ access_log off; client_body_temp_path {run}/tmp; proxy_temp_path {run}/tmp; fastcgi_temp_path {run}/tmp;
    uwsgi_temp_path {run}/tmp; scgi_temp_path {run}/tmp;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    server {{ listen 127.0.0.1:{http_port}; root {hls};
        add_header Access-Control-Allow-Origin * always; add_header Cache-Control no-cache always; }} }}
""")
    nginx = subprocess.Popen([str(find_nginx()), "-p", str(run), "-e", str(run / "error.log"), "-c", str(conf)])
    try:
        assert wait_for_port("127.0.0.1", port) and wait_for_port("127.0.0.1", http_port), (run / "error.log")
        yield f"rtmp://127.0.0.1:{port}/live", hls, f"http://127.0.0.1:{http_port}"
    finally:
        nginx.terminate()
        nginx.wait()


def run_anchor(tmp: Path, seconds: int) -> dict[str, float]:
    """nginx-rtmp's own HLS: what a plain nginx-rtmp setup gives (one rendition, no transcode)."""
    with anchor_nginx(tmp, "anchor") as (rtmp, hls, _):
        stop = threading.Event()
        result: dict[str, dict[str, float]] = {}
        started = time.monotonic()
        kept: dict[str, bytes] = {}

        def keep(uri: str, _: str) -> None:
            with contextlib.suppress(OSError):
                kept[uri.removesuffix(".ts")] = (hls / uri).read_bytes()

        watcher = threading.Thread(target=lambda: result.setdefault("seen", watch(hls / "s.m3u8", _EXTINF, started,
                                                                                  stop, keep)))  # fmt: skip
        watcher.start()
        publisher(f"{rtmp}/s", seconds, clock=True).wait()
        time.sleep(3)
        stop.set()
        watcher.join()
    seen = result["seen"]
    first, lag = lags(seen, capture_starts(kept, started, tmp))
    return {"first": first, "p50": percentile(list(lag.values()), 0.5), "p95": percentile(list(lag.values()), 0.95),
            "units": len(lag)}


# Plays `url` with hls.js and, every 250 ms, decodes the clock barcode of the frame on screen (see CLOCK_FILTER).
PLAY = """([url, lowLatency, bits, bar, height]) => {
  const video = document.querySelector("video");
  const hls = new Hls({ lowLatencyMode: lowLatency, capLevelToPlayerSize: true });
  window.glass = [];
  window.fatal = [];
  hls.on(Hls.Events.ERROR, (_event, data) => { if (data.fatal) window.fatal.push(data.details); });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  hls.loadSource(url);
  hls.attachMedia(video);
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  setInterval(() => {
    if (video.readyState < 2 || video.paused || video.seeking) return;
    const width = video.videoWidth, strip = Math.max(2, Math.round(video.videoHeight * bar / height));
    canvas.width = width;
    canvas.height = strip;
    context.drawImage(video, 0, 0, width, strip, 0, 0, width, strip);
    const row = context.getImageData(0, Math.floor(strip / 2), width, 1).data;
    const cells = bits + 2;
    const bit = (i) => (row[4 * Math.floor(((i + 0.5) * width) / cells)] > 127 ? 1 : 0);
    const now = Date.now();
    if (bit(0) !== 1 || bit(cells - 1) !== 0) return;
    let captured = 0;
    for (let i = 0; i < bits; i += 1) captured += bit(i + 1) * 2 ** i;
    const wrap = 2 ** bits;
    const glass = (((now % wrap) - captured) % wrap + wrap) % wrap;
    if (glass > 60000) return;
    window.glass.push({ now, glass: glass / 1000, latency: hls.latency,
      pdt: hls.playingDate ? (now - hls.playingDate.getTime()) / 1000 : null });
  }, 250);
}"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
WARMUP_SECONDS = 5.0  # hls.js settles behind the live edge after its first loads


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """An ASGI app under uvicorn in a thread, on loopback."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for_port("127.0.0.1", port, 30), "the edge never listened"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for_segment(url: str, timeout: float = 30.0) -> None:
    """Until the media playlist lists a whole segment (hls.js fails on a level without one: levelEmptyError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(url, timeout=5)
        if response.status_code == 200 and "#EXTINF" in response.text:
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} never listed a segment")


def glass_tab(browser: Any, url: str, low_latency: bool) -> Any:
    tab = browser.new_page(viewport={"width": 640, "height": 360})
    tab.set_content('<video muted autoplay playsinline style="width:640px;height:360px"></video>')
    tab.add_script_tag(path=str(HLS_JS))
    tab.evaluate(PLAY, [url, low_latency, CLOCK_BITS, CLOCK_BAR, 720])
    return tab


def glass_figures(tab: Any) -> dict[str, Any]:
    """p50/p95 of glass to glass and of the PROGRAM-DATE-TIME estimate, after the warm-up; fatal errors."""
    samples = tab.evaluate("() => window.glass")
    fatal = tab.evaluate("() => window.fatal")
    tab.close()
    settled = [s for s in samples if samples and s["now"] - samples[0]["now"] >= WARMUP_SECONDS * 1000]
    glass = [s["glass"] for s in settled]
    pdt = [s["pdt"] for s in settled if s["pdt"] is not None]
    return {"p50": percentile(glass, 0.5), "p95": percentile(glass, 0.95), "pdt50": percentile(pdt, 0.5),
            "pdt95": percentile(pdt, 0.95), "samples": len(glass), "fatal": fatal}


def run_glass(tmp: Path, seconds: int) -> dict[str, dict[str, Any]]:
    """hls.js in Chromium: ours in low-latency and standard mode on one publish, then nginx-rtmp's HLS."""
    from playwright.sync_api import sync_playwright

    from streamstack.delivery.app import create_edge_app

    results: dict[str, dict[str, Any]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        with our_ingest(tmp, "glass") as platform, \
                serve(create_edge_app(platform), platform.settings.edge_port) as edge:  # fmt: skip
            url, playback = new_stream(platform)
            proc = publisher(url, seconds, clock=True)
            wait_for_segment(f"{edge}/{playback}/360p/ll.m3u8")
            tabs = {mode: glass_tab(browser, f"{edge}/{playback}.m3u8", mode == "low") for mode in ("low", "standard")}
            proc.wait()  # only frames shown while the publisher is live: after it, the last frame freezes
            results |= {mode: glass_figures(tab) for mode, tab in tabs.items()}
        with anchor_nginx(tmp, "glass-anchor") as (rtmp, _, http):
            proc = publisher(f"{rtmp}/s", seconds, clock=True)
            wait_for_segment(f"{http}/s.m3u8")
            tab = glass_tab(browser, f"{http}/s.m3u8", False)
            proc.wait()
            results["anchor"] = glass_figures(tab)
        browser.close()
    return results


def transcoder_speed(tmp: Path, seconds: int) -> float:
    """Media seconds per wall second of the live command on a 720p30 file read as fast as possible."""
    source = tmp / "source.flv"
    video = f"testsrc2=size=1280x720:rate=30:duration={seconds}"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i",
                    f"sine=duration={seconds}", "-c:v", "libx264", "-preset", "veryfast", "-g", "60",
                    "-b:v", "3M", "-c:a", "aac", "-f", "flv", str(source)], check=True)  # fmt: skip
    probe = Probe(format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=True, width=1280,
                  height=720, frame_rate=30.0, video_stream=0, audio_stream=1, audio_channels=2,
                  audio_sample_rate=48000)  # fmt: skip
    defaults = Settings()
    settings = SimpleNamespace(ladder=None, live_ladder=LIVE_LADDER, max_resolution=None, max_frame_rate=60.0,
                               keyframe_seconds=2.0, live_part_seconds=0.5, live_dvr_window=60.0,
                               live_x264_preset=defaults.live_x264_preset)  # fmt: skip
    plan = plan_live(probe, settings)
    pipes = [os.pipe() for _ in plan.renditions]
    command = build_live_command(["-i", str(source)], probe, plan, [w for _, w in pipes])

    class Discard:
        def put(self, name: str, data: bytes, content_type: str) -> None:
            pass

        def delete(self, name: str) -> None:
            pass

        def get(self, name: str) -> bytes | None:
            return None

    started = time.monotonic()
    proc = subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", *command], pass_fds=[w for _, w in pipes])
    for _, write_end in pipes:
        os.close(write_end)
    packager = LivePackager([r.name for r in plan.renditions], Discard(), plan.packaging)
    packager.package_all({r.name: os.fdopen(read, "rb") for r, (read, _) in zip(plan.renditions, pipes, strict=True)})
    proc.wait()
    print(f"  ladder: {', '.join(f'{r.name} {r.width}x{r.height}' for r in plan.renditions)}")
    return seconds / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--skip-speed", action="store_true", help="leave out the transcoder speed run")
    parser.add_argument("--skip-glass", action="store_true", help="leave out glass-to-glass in Chromium")
    args = parser.parse_args()
    if find_nginx() is None:
        sys.exit("needs nginx with its RTMP module (Debian: nginx libnginx-mod-rtmp)")
    if not args.skip_glass and not (CHROMIUM.exists() and HLS_JS.exists()):
        sys.exit(f"glass-to-glass needs {CHROMIUM} and {HLS_JS} (scripts/fetch-hls-js); or --skip-glass")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as raw:
        tmp = Path(raw)
        ours = run_ours(tmp, args.seconds)
        anchor = run_anchor(tmp, args.seconds)
        speed = float("nan") if args.skip_speed else transcoder_speed(tmp, args.seconds)
        glass = None if args.skip_glass else run_glass(tmp, args.seconds)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'':34}{'streamstack LL-HLS':>20}{'nginx-rtmp hls 2s':>20}   goal")
    print(f"{'ingest -> first playable (s)':34}{ours['first']:>20.2f}{anchor['first']:>20.2f}   <= 3")
    print(f"{'availability behind real time p50':34}{ours['p50']:>20.2f}{anchor['p50']:>20.2f}   <= 1.5")
    print(f"{'availability behind real time p95':34}{ours['p95']:>20.2f}{anchor['p95']:>20.2f}   <= 2.5")
    print(f"{'  (units measured: parts / segments)':34}{ours['units']:>20}{anchor['units']:>20}")
    print(f"{'transcoder speed, 720p30 -> 3 rungs':34}{speed:>19.2f}x{'(no transcode)':>20}   >= 1.2x")
    print(f"{'CPU per stream (cores)':34}{ours['cpu']:>20.2f}{'':>20}")
    print(f"{'PROGRAM-DATE-TIME - capture (s)':34}{ours['date_p50']:>20.3f}{'(no PDT)':>20}   0 +- 0.033")
    print(f"{'  (min / max, segments)':34}{ours['date_min']:>9.3f} / {ours['date_max']:.3f}, {ours['dated']:>2}")
    print(f"{'edge: availability p50 / p95 (s)':34}{ours['edge_p50']:>11.2f} / {ours['edge_p95']:<6.2f}"
          f"{'':>20}   <= 1.5 / 2.5")
    print(f"{'edge: behind the origin p50 / p95':34}{ours['edge_delay_p50']:>11.3f} / {ours['edge_delay_p95']:<6.3f}"
          f"{'':>20}   <= 0.1")
    print(f"{'edge: origin requests per part':34}{ours['edge_reads_per_part']:>20.2f}"
          f"{'':>20}   1 (one rendition, {VIEWERS} viewers, while live: {ours['edge_reads_per_second']:.1f}/s,"
          f" {ours['edge_parts']} parts, {ours['edge_versions']} with a new version)")
    print("  (a request: one HEAD, GET or conditional GET of the LL playlist; on S3 each is one request, a 304 when"
          " unchanged; on this local folder an open + fstat, and the read when it changed)")
    print("first playable, stage by stage (s since the publisher started):")
    for stage, at in ours["timeline"].items():
        print(f"  {stage:32}{at:>20.2f}")
    if glass:
        print_glass(glass)


def print_glass(glass: dict[str, dict[str, Any]]) -> None:
    low, standard, anchor = glass["low"], glass["standard"], glass["anchor"]
    print(f"\nglass to glass in hls.js (s){'':7}{'LL-HLS, LL mode':>20}{'standard mode':>16}{'nginx-rtmp hls 2s':>20}"
          "   goal")
    print(f"{'  p50':34}{low['p50']:>20.2f}{standard['p50']:>16.2f}{anchor['p50']:>20.2f}   LL <= 3, standard <= 10")
    print(f"{'  p95':34}{low['p95']:>20.2f}{standard['p95']:>16.2f}{anchor['p95']:>20.2f}   LL <= 5, standard <= 10")
    print(f"{'  PDT estimate p50 (playingDate)':34}{low['pdt50']:>20.2f}{standard['pdt50']:>16.2f}{'(no PDT)':>20}")
    print(f"{'  PDT estimate p95 (playingDate)':34}{low['pdt95']:>20.2f}{standard['pdt95']:>16.2f}{'(no PDT)':>20}")
    print(f"{'  (frames sampled)':34}{low['samples']:>20}{standard['samples']:>16}{anchor['samples']:>20}")
    errors = {mode: figures["fatal"] for mode, figures in glass.items() if figures["fatal"]}
    if errors:
        print(f"  fatal hls.js errors: {json.dumps(errors)}")



if __name__ == "__main__":
    main()
