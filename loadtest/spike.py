"""One spike against one layout: N viewers, then a ramp to the peak, held a while; everything it measured.

Locust runs as a library (`loadtest.generator`: in this process, or a master here with worker processes);
a sampler greenlet records every second the viewer count, the generator's CPU (per process) and each
server's CPU, from which come the knee (the viewer count at which the p99 of blocking-reload latency past
the part's publication first exceeds one part duration; in standard mode and VOD, the p99 of every response
time), whether the generator saturated, and the servers' CPU-seconds per viewer-minute.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust.env import Environment

from loadtest import viewers
from loadtest.generator import Generator
from loadtest.stack import Layout, Stack

SAMPLE_SECONDS = 1.0
WINDOW_SECONDS = 5.0
SATURATED = 0.9  # a gevent process at 90% of its one core (or the generator at 90% of its cores) is the limit
MIN_WINDOW_SAMPLES = 20
MEDIA_OBJECT = {"ll": re.compile(r"/\d+\.\d+\.m4s$"), "standard": re.compile(r"/\d+\.m4s$"),
                "vod": re.compile(r"/\d+\.m4s$")}  # fmt: skip
MEDIA_NAME = {"ll": "LL part", "standard": "segment", "vod": "segment"}
PLAYLIST_NAME = {"ll": "LL blocking reload", "standard": "playlist", "vod": "playlist"}


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
    generator_cpu: tuple[float, ...]  # per generator process (this one first)
    server_cpu: tuple[float, ...]


@dataclass(frozen=True)
class Window:
    users: float
    blocking_p99: float | None  # LL: blocking reloads past publication; otherwise every response
    generator_load: float  # cores, all generator processes
    server_load: float  # cores, all servers of the layout
    busiest_generator_process: float = 0.0  # cores: one gevent process cannot pass 1
    busiest_server: float = 0.0  # cores: one server process (one worker, one GIL) cannot pass about 1


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
    generator_processes: int = 1
    generator_cores: float = 1.0  # the most CPU the generator could use: its processes, or its pinned cores
    pinned: str = ""  # which cores the servers and the generator were given, if pinned
    response_p50: float | None = None  # standard and VOD: every response time
    response_p99: float | None = None
    segment_target: float = 2.0
    load_average: float = 0.0  # the machine's 1-minute load at the end of the run (2 cores: above 2, others ran)
    windows: list[Window] = field(default_factory=list)
    sampled_users: list[int] = field(default_factory=list)
    renditions: dict[str, int] = field(default_factory=dict)

    @property
    def protocol_rate(self) -> float:
        """Requests per viewer-second the protocol asks at steady state (a viewer kept up with the stream)."""
        if self.mode == "ll":
            return 2 / self.part_target  # a blocking reload and a part per part
        return 2 / self.segment_target if self.mode == "standard" else 1 / self.segment_target  # VOD: segments

    def viewers_per_core(self, name: str) -> float:
        """The knee per core of server `name`, computed: 60 / (CPU-s per viewer-minute at the protocol's rate).

        The CPU-seconds per viewer-minute measured are scaled by protocol rate / measured rate, so viewers that
        a saturated generator slowed down do not make the server look cheaper per viewer.
        """
        per_viewer_minute = self.server_cpu_per_viewer_minute(name)
        measured = self.requests_per_viewer_second
        if not per_viewer_minute or not measured:
            return 0.0
        return 60 / (per_viewer_minute * self.protocol_rate / measured)

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
        return any(self._generator_at_limit(w) for w in self.windows)

    def _generator_at_limit(self, w: Window) -> bool:
        return w.busiest_generator_process >= SATURATED or w.generator_load >= SATURATED * self.generator_cores

    @property
    def knee_cause(self) -> str:
        """Who was at its limit in the knee's window: the server (a real knee), the generator, or neither."""
        knee = next((w for w in self.windows if w.blocking_p99 is not None and w.blocking_p99 > self.part_target),
                    None)  # fmt: skip
        if knee is None:
            return ""
        if knee.busiest_server >= SATURATED:
            return "server"
        return "generator" if self._generator_at_limit(knee) else "neither"

    @property
    def requests_per_viewer_second(self) -> float:
        return self.requests / (60 * self.viewer_minutes) if self.viewer_minutes else 0.0

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
        out["knee_cause"] = self.knee_cause
        out["requests_per_viewer_second"] = self.requests_per_viewer_second
        out["protocol_rate"] = self.protocol_rate
        out["viewers_per_core"] = {name: self.viewers_per_core(name) for name in self.server_cpu}
        out["viewers_reached"] = self.viewers_reached
        out["server_cpu_ms_per_request"] = {name: self.server_cpu_ms_per_request(name) for name in self.server_cpu}
        out["server_cpu_per_viewer_minute"] = {
            name: self.server_cpu_per_viewer_minute(name) for name in self.server_cpu
        }
        return out


@dataclass(frozen=True)
class GeneratorPlan:
    """How the generator runs: worker processes (0: in this process) and the cores it was pinned to, if any."""

    workers: int = 0
    cores: float = 1.0
    pinned: str = ""


def run_spike(stack: Stack, layout: Layout, mode: str, profile: Profile,
              plan: GeneratorPlan = GeneratorPlan()) -> SpikeResult:  # fmt: skip
    """Drive one spike with Locust and measure it; the layout's servers are left running."""
    viewers.RECORDER.reset()
    environment = Environment(user_classes=[viewers.viewer_class(mode, layout.viewer_url, layout.paths[mode])])
    generator = Generator(environment, mode, layout.viewer_url, layout.paths[mode], workers=plan.workers)
    samples: list[Sample] = []

    def take_sample(users: int) -> Sample:
        return Sample(time.time(), users, generator.cpu(), tuple(server.cpu() for server in layout.servers))

    def sample() -> None:
        while True:
            samples.append(take_sample(generator.user_count))
            gevent.sleep(SAMPLE_SECONDS)

    try:
        sampler = gevent.spawn(sample)
        started = time.time()
        runner = generator.runner
        runner.start(profile.start_users, spawn_rate=max(1.0, profile.start_users / 2))
        gevent.sleep(profile.warm_seconds)
        runner.start(profile.peak_users, spawn_rate=(profile.peak_users - profile.start_users) / profile.ramp_seconds)
        gevent.sleep(profile.ramp_seconds)
        late = time.time() + profile.ramp_seconds / 2  # a starved generator spawns late: give it half a ramp more
        while generator.user_count < profile.peak_users and time.time() < late:
            gevent.sleep(0.5)
        gevent.sleep(profile.hold_seconds)
        sampler.kill()
        samples.append(take_sample(generator.user_count))
        seconds = time.time() - started
        generator.stop()  # the viewers' last reports are in (distributed): the statistics are complete
    finally:
        generator.close()
    cores = min(plan.cores, max(1, plan.workers))  # one gevent process uses one core at most
    return measure(stack, layout, mode, profile, environment, samples, seconds,
                   GeneratorPlan(max(1, plan.workers), cores, plan.pinned))  # fmt: skip


def measure(stack: Stack, layout: Layout, mode: str, profile: Profile, environment: Environment,
            samples: list[Sample], seconds: float, plan: GeneratorPlan) -> SpikeResult:  # fmt: skip
    total = environment.stats.total
    recorder = viewers.RECORDER
    published = stack.published()
    blocking = blocking_latencies(recorder.blocking, published)
    part, target = stack.live_timing()
    windows = windowed(samples, blocking if mode == "ll" else recorder.responses)
    knee = next((w.users for w in windows if w.blocking_p99 is not None and w.blocking_p99 > part), None)
    responses = [latency for _, latency in recorder.responses]
    viewer_minutes = sum(a.users * (b.at - a.at) for a, b in zip(samples, samples[1:], strict=False)) / 60
    every = [latency for _, latency in blocking]
    errors = {f"{error.method} {error.name}: {error.error}": error.occurrences
              for error in environment.stats.errors.values()}  # fmt: skip
    return SpikeResult(
        layout=layout.name, mode=mode, profile=profile, seconds=seconds, requests=total.num_requests,
        failures=total.num_failures, errors=errors, requests_per_second=total.num_requests / seconds,
        p50_ms=_percentile_ms(environment, MEDIA_NAME[mode], 0.5),
        p99_ms=_percentile_ms(environment, MEDIA_NAME[mode], 0.99),
        playlist_p99_ms=_percentile_ms(environment, PLAYLIST_NAME[mode], 0.99),
        stalls=recorder.stalls, stall_seconds=recorder.stall_seconds, resyncs=recorder.resyncs,
        viewer_minutes=viewer_minutes, part_target=part, segment_target=target,
        blocking_p50=percentile(every, 0.5), blocking_p99=percentile(every, 0.99), knee_users=knee,
        generator_cpu=sum(samples[-1].generator_cpu) - sum(samples[0].generator_cpu),
        server_cpu={server.name: samples[-1].server_cpu[i] - samples[0].server_cpu[i]
                    for i, server in enumerate(layout.servers)},
        store_reads=origin_reads(layout.store_reader.reads(), mode) if layout.store_reader else None,
        tier_reads=origin_reads(layout.tier_reader.reads(), mode) if layout.tier_reader else None,
        windows=windows, sampled_users=[s.users for s in samples], renditions=dict(recorder.renditions),
        load_average=os.getloadavg()[0], publisher_max_gap=largest_gap(published, samples[0].at, samples[-1].at),
        generator_processes=plan.workers, generator_cores=plan.cores, pinned=plan.pinned,
        response_p50=percentile(responses, 0.5), response_p99=percentile(responses, 0.99),
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
            generator_load=(sum(last.generator_cpu) - sum(first.generator_cpu)) / span,
            server_load=(sum(last.server_cpu) - sum(first.server_cpu)) / span,
            busiest_generator_process=_busiest(first.generator_cpu, last.generator_cpu) / span,
            busiest_server=_busiest(first.server_cpu, last.server_cpu) / span,
        ))  # fmt: skip
        index = end
    return windows


def _busiest(before: tuple[float, ...], after: tuple[float, ...]) -> float:
    return max((b - a for a, b in zip(before, after, strict=True)), default=0.0)


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
