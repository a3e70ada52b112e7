"""Simulated viewers (Locust users) that play like hls.js: LL-HLS with blocking reloads, standard live, VOD.

Each viewer draws a bandwidth from the profile, picks a variant from the master playlist, downloads the
init segment and every part or segment it plays, and keeps a playback clock: playback starts once the
start buffer is in, and media that arrives after the buffer ran dry is a stall (counted with its length).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import gevent
from locust import FastHttpUser, constant, task

from loadtest.playlists import MediaPlaylist, Part, media_playlist, pick_variant, variants

# Bandwidth profile (share of viewers, bits/s): a sports audience on cellular, shared Wi-Fi and fibre.
BANDWIDTH_PROFILE = ((0.2, 1_500_000), (0.3, 3_000_000), (0.5, 8_000_000))
VOD_MAX_BUFFER_SECONDS = 30.0  # hls.js maxBufferLength
STANDARD_START_SEGMENTS = 3  # hls.js starts a standard live playlist three target durations from its end
RECEIVE_BLOCK_BYTES = 64 * 1024


@dataclass
class Recorder:
    """What every viewer of one run reports, shared by the greenlets of the generator process."""

    blocking: list[tuple[str, int, int, float, float]] = field(default_factory=list)  # rendition msn part req resp
    responses: list[tuple[float, float]] = field(default_factory=list)  # standard and VOD: (answered, seconds)
    stalls: int = 0
    stall_seconds: float = 0.0
    resyncs: int = 0  # a viewer fell out of the playlist's part window and jumped to the live edge
    renditions: dict[str, int] = field(default_factory=dict)
    part_target: float = 0.0

    def reset(self) -> None:
        self.__dict__.update(Recorder().__dict__)

    def stall(self, seconds: float) -> None:
        self.stalls += 1
        self.stall_seconds += seconds

    def take(self) -> dict[str, Any]:
        """What was recorded since the last take (a worker's share of its next report to the master)."""
        taken = dict(self.__dict__)
        self.reset()
        self.part_target = taken["part_target"]
        return taken

    def merge(self, report: dict[str, Any]) -> None:
        """Add a worker's report (from take(), through Locust's msgpack: tuples arrive as lists)."""
        self.blocking.extend(tuple(entry) for entry in report["blocking"])  # type: ignore[misc]
        self.responses.extend(tuple(entry) for entry in report["responses"])  # type: ignore[misc]
        self.stalls += report["stalls"]
        self.stall_seconds += report["stall_seconds"]
        self.resyncs += report["resyncs"]
        for name, count in report["renditions"].items():
            self.renditions[name] = self.renditions.get(name, 0) + count
        self.part_target = report["part_target"] or self.part_target


RECORDER = Recorder()


class PlaybackClock:
    """Media plays from start() on; media added after the buffered media ran out is a stall."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pending = 0.0
        self.until: float | None = None

    def start(self) -> None:
        self.until = time.monotonic() + self.pending

    def add(self, duration: float) -> None:
        if self.until is None:
            self.pending += duration
            return
        now = time.monotonic()
        if now > self.until:
            self.recorder.stall(now - self.until)
            self.until = now + duration
        else:
            self.until += duration

    def ahead(self) -> float:
        return 0.0 if self.until is None else self.until - time.monotonic()


def draw_bandwidth(rng: random.Random) -> int:
    roll, total = rng.random(), 0.0
    for share, bandwidth in BANDWIDTH_PROFILE:
        total += share
        if roll < total:
            return bandwidth
    return BANDWIDTH_PROFILE[-1][1]


class Viewer(FastHttpUser):
    """A player: master playlist, variant, init segment; subclasses play live LL, live standard or VOD."""

    abstract = True
    wait_time = constant(0)
    master_path = "/"
    network_timeout = 30.0
    connection_timeout = 10.0

    record_responses = False  # standard and VOD: every response time, for the knee (LL has blocking reloads)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # Bodies are read in 64 KiB blocks instead of geventhttpclient's 4 KiB: a 200 kB part was 50 reads and
        # parser calls, the generator's largest cost in a profile (py-spy). Set before the first request creates
        # the connection pool's client.
        self.client.client.clientpool.client_args["block_size"] = RECEIVE_BLOCK_BYTES

    def fetch(self, path: str, name: str, query: str = "") -> Any:
        asked = time.time()
        response = self.client.get(path + query, name=name)
        if response.status_code != 200:  # FastHttpUser has reported the failure; the viewer starts over
            raise RestartViewer
        if self.record_responses:
            answered = time.time()
            RECORDER.responses.append((answered, answered - asked))
        return response

    def text(self, path: str, name: str, query: str = "") -> str:
        """A playlist's text: UTF-8 by definition (RFC 8216), so no charset detection per response."""
        return bytes(self.fetch(path, name, query).content).decode("utf-8")

    def choose(self) -> str:
        master = self.text(self.master_path, "master")
        variant = pick_variant(variants(master), draw_bandwidth(random.Random()))
        RECORDER.renditions[variant.uri] = RECORDER.renditions.get(variant.uri, 0) + 1
        return urljoin(self.master_path, variant.uri)

    @task
    def watch(self) -> None:
        try:
            self.play(self.choose())
        except RestartViewer:
            gevent.sleep(1.0)  # as a player retries after an error

    def play(self, playlist_path: str) -> None:
        raise NotImplementedError


class RestartViewer(Exception):
    """A request failed: the viewer starts over (the failure is already in Locust's statistics)."""


class LowLatencyViewer(Viewer):
    """LL-HLS: starts PART-HOLD-BACK from the live edge, then blocks on the next part and fetches each part."""

    abstract = True

    def play(self, path: str) -> None:
        playlist = media_playlist(self.text(path, "LL playlist"))
        RECORDER.part_target = playlist.part_target
        rendition = path.rsplit("/", 2)[-2]
        if playlist.init_uri:
            self.fetch(urljoin(path, playlist.init_uri), "init")
        clock = PlaybackClock(RECORDER)
        start = start_parts(playlist)
        for part in start:
            self.fetch(urljoin(path, part.uri), "LL part")
            clock.add(part.duration)
        clock.start()
        last = start[-1].position
        while True:
            msn, index = (last[0] + 1, 0) if playlist.complete(last[0]) else (last[0], last[1] + 1)
            asked = time.time()
            text = self.text(path, "LL blocking reload", f"?_HLS_msn={msn}&_HLS_part={index}")
            answered = time.time()
            playlist = media_playlist(text, from_msn=last[0])  # only the segments it has not played yet
            new = [part for part in playlist.parts if part.position > last]
            if not new:
                continue
            if new[0].position != (msn, index):  # what it asked for has left the part window: back to the edge
                RECORDER.resyncs += 1
                playlist = media_playlist(text)
                new = start_parts(playlist)
            RECORDER.blocking.append((rendition, new[0].msn, new[0].index, asked, answered))
            for part in new:
                self.fetch(urljoin(path, part.uri), "LL part")
                clock.add(part.duration)
            last = new[-1].position


def start_parts(playlist: MediaPlaylist) -> list[Part]:
    """The newest parts covering PART-HOLD-BACK (at least one): where hls.js starts a low-latency stream."""
    chosen: list[Part] = []
    for part in reversed(playlist.parts):
        chosen.insert(0, part)
        if sum(p.duration for p in chosen) >= playlist.part_hold_back:
            break
    return chosen


class SegmentViewer(Viewer):
    """Standard live (polls every target duration, starts three segments from the end) and VOD (30 s buffer)."""

    abstract = True
    record_responses = True

    def play(self, path: str) -> None:
        playlist = media_playlist(self.text(path, "playlist"))
        if playlist.init_uri:
            self.fetch(urljoin(path, playlist.init_uri), "init")
        clock = PlaybackClock(RECORDER)
        vod = playlist.ended
        first = 0 if vod else max(0, len(playlist.segments) - STANDARD_START_SEGMENTS)
        next_msn = playlist.segments[first].msn if playlist.segments else 0
        reloaded = time.monotonic()
        while True:
            for segment in [s for s in playlist.segments if s.msn >= next_msn]:
                if vod and clock.ahead() > VOD_MAX_BUFFER_SECONDS:
                    gevent.sleep(clock.ahead() - VOD_MAX_BUFFER_SECONDS)
                self.fetch(urljoin(path, segment.uri), "segment")
                clock.add(segment.duration)
                next_msn = segment.msn + 1
                if clock.until is None and (vod or next_msn > playlist.segments[-1].msn):
                    clock.start()
            if vod:
                next_msn = playlist.segments[0].msn  # the viewer watches it again
                continue
            gevent.sleep(max(0.0, reloaded + playlist.target - time.monotonic()))
            reloaded = time.monotonic()
            playlist = media_playlist(self.text(path, "playlist"))


USER_CLASSES: dict[str, type[Viewer]] = {"ll": LowLatencyViewer, "standard": SegmentViewer, "vod": SegmentViewer}


def viewer_class(mode: str, host: str, master_path: str) -> type[Viewer]:
    """The concrete viewer of one run; master and workers build it alike (Locust matches classes by name)."""
    return type(f"{mode.title()}Viewer", (USER_CLASSES[mode],),
                {"master_path": master_path, "host": host, "abstract": False})  # fmt: skip
