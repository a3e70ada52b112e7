"""One spike against one layout: N viewers, then a ramp to the peak, held a while; everything it measured.

Locust runs as a library in this process (a LocalRunner: one gevent process, so at most one core); a
sampler greenlet records every second the viewer count, this process's CPU and each server's CPU, from
which come the knee (the viewer count at which the p99 of blocking-reload latency first exceeds one part
duration), whether the generator saturated, and the servers' CPU-seconds per viewer-minute.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust.env import Environment

from loadtest import viewers
from loadtest.stack import Layout, Stack

SAMPLE_SECONDS = 1.0
WINDOW_SECONDS = 5.0
SATURATED = 0.9  # a gevent generator at 90% of its one core is the bottleneck, not the server
MIN_WINDOW_SAMPLES = 20
MEDIA_OBJECT = {"ll": re.compile(r"/\d+\.\d+\.m4s$"), "standard": re.compile(r"/\d+\.m4s$"),
                "vod": re.compile(r"/\d+\.m4s$")}  # fmt: skip
MEDIA_NAME = {"ll": "LL part", "standard": "segment", "vod": "segment"}
PLAYLIST_NAME = {"ll": "LL blocking reload", "standard": "playlist", "vod": "playlist"}
USER_CLASSES = {"ll": viewers.LowLatencyViewer, "standard": viewers.SegmentViewer, "vod": viewers.SegmentViewer}


@dataclass(frozen=True)
class Profile:
    start_users: int
    peak_users: int
    ramp_seconds: float
    warm_seconds: float = 10.0
    hold_seconds: float = 10.0


@dataclass(frozen=True)
class Sample:
    at: float
    users: int
    generator_cpu: float
    server_cpu: tuple[float, ...]


@dataclass(frozen=True)
class Window:
    users: float
    blocking_p99: float | None
    generator_load: float  # cores
    server_load: float  # cores, all servers of the layout


@dataclass(frozen=True)
class OriginReads:
    """Body reads of media objects (parts, or segments) by one reader, per rendition: objects, fewest, most."""

    per_rendition: dict[str, tuple[int, int, int]]
    playlist_reads: int

    @property
    def exactly_once(self) -> bool:
        return bool(self.per_rendition) and all(low == high == 1 for _, low, high in self.per_rendition.values())

    def summary(self) -> str:
        if not self.per_rendition:
            return "-"
        return ", ".join(f"{name} {low}..{high} ({count})" for name, (count, low, high) in
                         sorted(self.per_rendition.items()))  # fmt: skip


@dataclass
class SpikeResult:
    layout: str
    mode: str
    profile: Profile
    seconds: float
    requests: int
    failures: int
    errors: dict[str, int]
    requests_per_second: float
    p50_ms: float  # media objects (parts, or segments)
    p99_ms: float
    playlist_p99_ms: float  # blocking reloads in LL (they wait for the part by design), polls otherwise
    stalls: int
    stall_seconds: float
    resyncs: int
    viewer_minutes: float
    part_target: float
    blocking_p50: float | None
    blocking_p99: float | None
    knee_users: float | None
    generator_cpu: float
    server_cpu: dict[str, float]
    store_reads: OriginReads | None
    tier_reads: OriginReads | None
    publisher_max_gap: float = 0.0  # longest wait between two parts of a rendition: a starved publisher shows here
    load_average: float = 0.0  # the machine's 1-minute load at the end of the run (2 cores: above 2, others ran)
    windows: list[Window] = field(default_factory=list)
    sampled_users: list[int] = field(default_factory=list)
    renditions: dict[str, int] = field(default_factory=dict)

    @property
    def viewers_reached(self) -> int:
        return max(self.sampled_users, default=0)

    def server_cpu_ms_per_request(self, name: str) -> float:
        return 1000 * self.server_cpu[name] / self.requests if self.requests else 0.0

    @property
    def stalls_per_viewer_minute(self) -> float:
        return self.stalls / self.viewer_minutes if self.viewer_minutes else 0.0

    @property
    def generator_saturated(self) -> bool:
        return any(window.generator_load >= SATURATED for window in self.windows)

    def server_cpu_per_viewer_minute(self, name: str) -> float:
        return self.server_cpu[name] / self.viewer_minutes if self.viewer_minutes else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {key: value for key, value in self.__dict__.items() if key not in ("windows", "profile")}
        out["profile"] = self.profile.__dict__
        out["windows"] = [window.__dict__ for window in self.windows]
        for key in ("store_reads", "tier_reads"):
            reads = getattr(self, key)
            out[key] = None if reads is None else {"per_rendition": reads.per_rendition,
                                                   "playlist_reads": reads.playlist_reads,
                                                   "exactly_once": reads.exactly_once}  # fmt: skip
        out["stalls_per_viewer_minute"] = self.stalls_per_viewer_minute
        out["generator_saturated"] = self.generator_saturated
        out["viewers_reached"] = self.viewers_reached
        out["server_cpu_ms_per_request"] = {name: self.server_cpu_ms_per_request(name) for name in self.server_cpu}
        out["server_cpu_per_viewer_minute"] = {
            name: self.server_cpu_per_viewer_minute(name) for name in self.server_cpu
        }
        return out


def generator_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_spike(stack: Stack, layout: Layout, mode: str, profile: Profile) -> SpikeResult:
    """Drive one spike with Locust and measure it; the layout's servers are left running."""
    viewers.RECORDER.reset()
    user = type(f"{mode.title()}Viewer", (USER_CLASSES[mode],),
                {"master_path": layout.paths[mode], "host": layout.viewer_url, "abstract": False})  # fmt: skip
    environment = Environment(user_classes=[user])
    runner = environment.create_local_runner()
    samples: list[Sample] = []

    def sample() -> None:
        while True:
            samples.append(Sample(time.time(), runner.user_count, generator_cpu(),
                                  tuple(server.cpu() for server in layout.servers)))  # fmt: skip
            gevent.sleep(SAMPLE_SECONDS)

    sampler = gevent.spawn(sample)
    started = time.time()
    runner.start(profile.start_users, spawn_rate=max(1.0, profile.start_users / 2))
    gevent.sleep(profile.warm_seconds)
    runner.start(profile.peak_users, spawn_rate=(profile.peak_users - profile.start_users) / profile.ramp_seconds)
    gevent.sleep(profile.ramp_seconds)
    late = time.time() + profile.ramp_seconds / 2  # a starved generator spawns late: give it half a ramp more
    while runner.user_count < profile.peak_users and time.time() < late:
        gevent.sleep(0.5)
    gevent.sleep(profile.hold_seconds)
    runner.stop()
    sampler.kill()
    samples.append(Sample(time.time(), 0, generator_cpu(), tuple(server.cpu() for server in layout.servers)))
    seconds = time.time() - started
    runner.quit()
    return measure(stack, layout, mode, profile, environment, samples, seconds)


def measure(stack: Stack, layout: Layout, mode: str, profile: Profile, environment: Environment,
            samples: list[Sample], seconds: float) -> SpikeResult:  # fmt: skip
    total = environment.stats.total
    recorder = viewers.RECORDER
    published = stack.published()
    latencies = blocking_latencies(recorder.blocking, published)
    part = recorder.part_target
    windows = windowed(samples, latencies)
    knee = next((w.users for w in windows if w.blocking_p99 is not None and w.blocking_p99 > part), None)
    viewer_minutes = sum(a.users * (b.at - a.at) for a, b in zip(samples, samples[1:], strict=False)) / 60
    every = [latency for _, latency in latencies]
    errors = {f"{error.method} {error.name}: {error.error}": error.occurrences
              for error in environment.stats.errors.values()}  # fmt: skip
    return SpikeResult(
        layout=layout.name, mode=mode, profile=profile, seconds=seconds, requests=total.num_requests,
        failures=total.num_failures, errors=errors, requests_per_second=total.num_requests / seconds,
        p50_ms=_percentile_ms(environment, MEDIA_NAME[mode], 0.5),
        p99_ms=_percentile_ms(environment, MEDIA_NAME[mode], 0.99),
        playlist_p99_ms=_percentile_ms(environment, PLAYLIST_NAME[mode], 0.99),
        stalls=recorder.stalls, stall_seconds=recorder.stall_seconds, resyncs=recorder.resyncs,
        viewer_minutes=viewer_minutes, part_target=part,
        blocking_p50=percentile(every, 0.5), blocking_p99=percentile(every, 0.99), knee_users=knee,
        generator_cpu=samples[-1].generator_cpu - samples[0].generator_cpu,
        server_cpu={server.name: samples[-1].server_cpu[i] - samples[0].server_cpu[i]
                    for i, server in enumerate(layout.servers)},
        store_reads=origin_reads(layout.store_reader.reads(), mode) if layout.store_reader else None,
        tier_reads=origin_reads(layout.tier_reader.reads(), mode) if layout.tier_reader else None,
        windows=windows, sampled_users=[s.users for s in samples], renditions=dict(recorder.renditions),
        load_average=os.getloadavg()[0], publisher_max_gap=largest_gap(published, samples[0].at, samples[-1].at),
    )  # fmt: skip


def _percentile_ms(environment: Environment, name: str, q: float) -> float:
    entry = environment.stats.entries.get((name, "GET"))
    return float(entry.get_response_time_percentile(q) or 0.0) if entry is not None and entry.num_requests else 0.0


def blocking_latencies(
    blocking: list[tuple[str, int, int, float, float]], published: dict[tuple[str, int, int], float]
) -> list[tuple[float, float]]:
    """(answered at, seconds from the later of the request and the part's publication to the answer)."""
    out = []
    for rendition, msn, part, asked, answered in blocking:
        at = published.get((rendition, msn, part))
        if at is not None:
            out.append((answered, answered - max(asked, at)))
    return out


def largest_gap(published: dict[tuple[str, int, int], float], start: float, end: float) -> float:
    """The longest time between consecutive parts of any rendition during the run."""
    by_rendition: dict[str, list[float]] = {}
    for (rendition, _, _), at in published.items():
        if start <= at <= end:
            by_rendition.setdefault(rendition, []).append(at)
    gaps = [b - a for times in by_rendition.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    return max(gaps, default=0.0)


def windowed(samples: list[Sample], latencies: list[tuple[float, float]]) -> list[Window]:
    """Per WINDOW_SECONDS: mean viewers, p99 blocking latency, generator and server load in cores."""
    windows = []
    index = 0
    while index + 1 < len(samples):
        end = index
        while end + 1 < len(samples) and samples[end].at - samples[index].at < WINDOW_SECONDS:
            end += 1
        first, last = samples[index], samples[end]
        span = last.at - first.at or 1.0
        inside = [latency for at, latency in latencies if first.at <= at < last.at]
        windows.append(Window(
            users=statistics.fmean(s.users for s in samples[index:end]) if end > index else first.users,
            blocking_p99=percentile(inside, 0.99) if len(inside) >= MIN_WINDOW_SAMPLES else None,
            generator_load=(last.generator_cpu - first.generator_cpu) / span,
            server_load=(sum(last.server_cpu) - sum(first.server_cpu)) / span,
        ))  # fmt: skip
        index = end
    return windows


def origin_reads(reads: dict[str, int], mode: str) -> OriginReads:
    pattern = MEDIA_OBJECT[mode]
    per_rendition: dict[str, list[int]] = {}
    playlists = 0
    for key, count in reads.items():
        if pattern.search(key):
            per_rendition.setdefault(key.rsplit("/", 2)[-2], []).append(count)
        elif key.endswith(".m3u8"):
            playlists += count
    return OriginReads({name: (len(c), min(c), max(c)) for name, c in per_rendition.items()}, playlists)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
