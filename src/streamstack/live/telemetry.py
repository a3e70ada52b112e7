"""What one live stream looks like from the inside: ingest bitrate and frame rate, stalls, encoder speed, latency.

No process is added to measure it: the relay (which already remuxes the publisher's stream) reports its
progress (`-progress` on a pipe: frames and bytes so far), the packager reports each part it publishes,
and the latency estimate is read from the playlist a player would load. The ingest's supervision loop
takes a `figures()` snapshot every tick and records it (observability.metrics, one series per stream).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamstack.media.llhls import HOLD_BACK_TARGETS, PART_HOLD_BACK_PARTS, LivePlaylist

INGEST_WINDOW = 5.0  # seconds of relay progress behind the bitrate and frame rate
SPEED_WINDOW = 10.0  # seconds of parts behind the encoder's speed
PROGRESS_PERIOD = 0.5  # ffmpeg -stats_period: how often the relay reports
WAIT_TOLERANCE = 1.0  # a pause this short between reports is waiting for the next one, not a slowdown


class RateMeter:
    """The rate of a growing total over the last `window` seconds, like PromQL's rate() on a counter."""

    def __init__(self, window: float, *, min_span: float = 2.0) -> None:
        self.window = window
        self.min_span = min_span
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, total: float, now: float) -> None:
        """The total so far, at `now` (monotonic seconds)."""
        self.samples.append((now, total))
        self._trim(now)

    def rate(self, now: float) -> float | None:
        """Growth per second; falls towards 0 while no report comes; None before `min_span` seconds of data."""
        self._trim(now)
        if not self.samples:
            return None
        (first_t, first), (last_t, last) = self.samples[0], self.samples[-1]
        span = max(last_t - first_t, now - first_t - WAIT_TOLERANCE)
        if span < self.min_span:
            return None
        return (last - first) / span

    def _trim(self, now: float) -> None:
        """Keep the window, plus the newest sample before it as the base (so a stall reads 0, not nothing)."""
        while len(self.samples) > 1 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()


@dataclass(frozen=True)
class LiveFigures:
    """One stream's figures at one instant; None where there is not enough data yet."""

    ingest_bitrate: float | None
    ingest_frame_rate: float | None
    stall_seconds: float
    transcoder_speed: float | None
    latency_seconds: float | None


class StreamTelemetry:
    """The running measurements of the current publisher connection; reset when a publisher (re)connects."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.connected()

    def connected(self) -> None:
        """A new relay and encoder: their counters start from zero again."""
        with self.lock:
            self.bits = RateMeter(INGEST_WINDOW)
            self.frames = RateMeter(INGEST_WINDOW)
            self.encoded = RateMeter(SPEED_WINDOW)
            self.encoded_total = 0.0
            self.frames_seen = 0.0
            self.last_frame_at = self.clock()

    def relay_progress(self, frames: float, total_bytes: float) -> None:
        """One report of the relay: video frames and bytes it passed on since it started."""
        now = self.clock()
        with self.lock:
            if frames > self.frames_seen:
                self.frames_seen, self.last_frame_at = frames, now
            self.frames.add(frames, now)
            self.bits.add(total_bytes * 8, now)

    def part_encoded(self, media_seconds: float) -> None:
        """A part of the reference rendition: that much media came out of the encoder."""
        now = self.clock()
        with self.lock:
            self.encoded_total += media_seconds
            self.encoded.add(self.encoded_total, now)

    def follow_relay(self, lines: Iterable[bytes]) -> None:
        """Read the relay's `-progress` output until it ends (a thread per connection)."""
        for report in progress_reports(lines):
            frames, size = _number(report.get("frame")), _number(report.get("total_size"))
            if frames is not None and size is not None:
                self.relay_progress(frames, size)

    def figures(self, latency_seconds: float | None) -> LiveFigures:
        """The current snapshot; the latency comes from the packager's playlist (`live_edge_latency`)."""
        now = self.clock()
        with self.lock:
            return LiveFigures(
                ingest_bitrate=self.bits.rate(now),
                ingest_frame_rate=self.frames.rate(now),
                stall_seconds=max(0.0, now - self.last_frame_at),
                transcoder_speed=self.encoded.rate(now),
                latency_seconds=latency_seconds,
            )


def progress_args(fd: int) -> list[str]:
    """ffmpeg's global options to report progress on an inherited pipe every PROGRESS_PERIOD seconds."""
    return ["-progress", f"pipe:{fd}", "-stats_period", str(PROGRESS_PERIOD)]


def progress_reports(lines: Iterable[bytes]) -> Iterable[dict[str, str]]:
    """ffmpeg `-progress` output as one dict per report (key=value lines, each report ends with progress=)."""
    report: dict[str, str] = {}
    for raw in lines:
        key, sep, value = raw.decode("ascii", "replace").strip().partition("=")
        if not sep:
            continue
        report[key] = value
        if key == "progress":
            yield report
            report = {}


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # N/A before the first packet
        return None


def live_edge_latency(playlist: LivePlaylist, *, low_latency: bool, now: datetime | None = None) -> float | None:
    """What a player at the live edge sees: wall clock minus where it plays (the edge minus its hold-back).

    Low latency: the newest part's end minus PART-HOLD-BACK; standard: the newest whole segment's end minus
    HOLD-BACK. Program date-times are stamped at the encoder's output, so the publisher's own encoding and
    network delay are not in it.
    """
    segments = playlist.segments if low_latency else [s for s in playlist.segments if s.uri]
    if not segments:
        return None
    newest = segments[-1]
    edge = newest.program_date_time + timedelta(seconds=newest.duration)
    if low_latency:
        hold_back = PART_HOLD_BACK_PARTS * playlist.part_target
    else:
        hold_back = HOLD_BACK_TARGETS * playlist.target_seconds
    now = datetime.now(UTC) if now is None else now
    return (now - edge).total_seconds() + hold_back
