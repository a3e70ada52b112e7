"""The kickoff spike on loopback: N -> 10N viewers in 60 s per layout, one live session, printed as a table.

    .venv/bin/python -m loadtest [--start 100] [--ramp 60] [--runs ll:edge,ll:two-tiers,...] [--json out.json]
    .venv/bin/python -m loadtest --bounded     # 100 -> 1,000 in 30 s, LL behind two tiers (what `make test` runs)

A run is MODE:LAYOUT. Modes: ll (LL-HLS, blocking reloads and parts), standard (standard live, polling every
target duration), vod (the VOD asset). Layouts: edge (one edge process), two-tiers (an edge reading through a
shield edge, which alone reads the store), nginx (1 worker, open_file_cache; standard mode only: the anchor).
Each run gets fresh server processes; the publisher runs for the whole command.
"""

# ruff: noqa: I001  (Locust first: importing it patches the process with gevent, before anything else loads)
import locust  # noqa: F401

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from loadtest.spike import WINDOW_SECONDS, Profile, SpikeResult, run_spike
from loadtest.stack import Layout, Stack

DEFAULT_RUNS = "ll:edge,ll:two-tiers,standard:edge,standard:two-tiers,standard:nginx,vod:edge"
BOUNDED_RUNS = "ll:two-tiers"
LAYOUTS = {"edge": Stack.edge_alone, "two-tiers": Stack.two_tiers, "nginx": Stack.nginx}
SETTLE_SECONDS = 3.0  # between runs: the previous run's connections close
PUBLISH_UNTIL_STOPPED = 24 * 3600.0  # the publisher runs until the command stops it (runs take what they take)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=100, help="viewers before the ramp (N)")
    parser.add_argument("--peak", type=int, help="viewers after the ramp (default 10N)")
    parser.add_argument("--ramp", type=float, default=60.0, help="seconds from N to the peak")
    parser.add_argument("--warm", type=float, default=10.0, help="seconds at N before the ramp")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds at the peak")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help=f"MODE:LAYOUT list (default {DEFAULT_RUNS})")
    parser.add_argument("--height", type=int, default=720, help="source height (720: a 3-rung live ladder)")
    parser.add_argument("--clip-seconds", type=int, default=4)
    parser.add_argument("--bounded", action="store_true", help="100 -> 1,000 in 30 s, LL two tiers, 480p source")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if args.bounded:
        args.start, args.peak, args.ramp, args.warm, args.hold = 100, 1000, 30.0, 5.0, 5.0
        args.height, args.runs = 480, BOUNDED_RUNS
    args.peak = args.peak or 10 * args.start
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [tuple(run.split(":")) for run in args.runs.split(",")]
    for mode, layout in runs:
        if layout not in LAYOUTS or mode not in ("ll", "standard", "vod") or (layout == "nginx" and mode != "standard"):
            print(f"unknown or unsupported run {mode}:{layout}", file=sys.stderr)
            return 2
    profile = Profile(args.start, args.peak, args.ramp, args.warm, args.hold)
    load_before = os.getloadavg()
    results: list[SpikeResult] = []
    with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
        stack = Stack(Path(tmp))
        try:
            renditions = stack.start_publisher(PUBLISH_UNTIL_STOPPED, height=args.height,
                                               clip_seconds=args.clip_seconds,
                                               vod=any(mode == "vod" for mode, _ in runs))  # fmt: skip
            print(f"live session {stack.catalog.live_asset}: renditions {', '.join(renditions)}", flush=True)
            for mode, name in runs:
                layout: Layout = LAYOUTS[name](stack)
                print(f"{mode}:{name}: {profile.start_users} -> {profile.peak_users} viewers in "
                      f"{profile.ramp_seconds:g} s ...", flush=True)  # fmt: skip
                try:
                    results.append(run_spike(stack, layout, mode, profile))
                finally:
                    stack.stop(layout)
                time.sleep(SETTLE_SECONDS)
        finally:
            stack.close()
    print_report(results, load_before, os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps({"results": [r.as_dict() for r in results], "load_before": load_before,
                                         "load_after": os.getloadavg(), "cpus": os.cpu_count()}, indent=1))  # fmt: skip
    ok = all(r.failures == 0 and (r.store_reads is None or r.store_reads.exactly_once) for r in results)
    return 0 if ok else 1


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def print_report(results: list[SpikeResult], load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    print(f"\n{os.cpu_count()} cores shared by the generator (one gevent process), the servers and the publisher; "
          f"1-min load {load_before[0]:.1f} before, {load_after[0]:.1f} after")  # fmt: skip
    print("viewers: start -> most reached; media: parts (LL) or segments; playlist: blocking reloads (LL) or polls")
    print(f"{'run':<20}{'viewers':>12}{'req/s':>8}{'media p50/p99 ms':>17}{'playlist p99':>13}{'errors':>7}"
          f"{'stalls/v-min':>13}{'block p50/p99 ms':>17}{'knee':>8}")  # fmt: skip
    for r in results:
        knee = "-" if r.mode != "ll" else (f"{r.knee_users:.0f}" if r.knee_users else f">{r.viewers_reached}")
        media = f"{r.p50_ms:.0f}/{r.p99_ms:.0f}"
        blocking = f"{_ms(r.blocking_p50)}/{_ms(r.blocking_p99)}"
        print(f"{_run(r):<20}{f'{r.profile.start_users}->{r.viewers_reached}':>12}{r.requests_per_second:>8.0f}"
              f"{media:>17}{r.playlist_p99_ms:>13.0f}{r.failures:>7}{r.stalls_per_viewer_minute:>13.3f}"
              f"{blocking:>17}{knee:>8}")  # fmt: skip
    print(f"\n{'run':<20}{'store reads per object':<44}{'edge->shield reads':<30}")
    for r in results:
        store = r.store_reads.summary() if r.store_reads else "- (files)"
        tier = r.tier_reads.summary() if r.tier_reads else "-"
        print(f"{_run(r):<20}{store:<44}{tier:<30}")
    print("  (rendition fewest..most reads (objects read); target: exactly 1 for every part or segment)")
    print(f"\n{'run':<20}{'server CPU-s':>24}{'CPU-ms / request':>26}{'CPU-s / viewer-min':>30}"
          f"{'generator CPU-s':>16}{'peak gen cores':>15}")  # fmt: skip
    for r in results:
        names = [(name, name.split("-")[0]) for name in r.server_cpu]
        cpu = ", ".join(f"{short} {r.server_cpu[name]:.1f}" for name, short in names)
        per_request = ", ".join(f"{short} {r.server_cpu_ms_per_request(name):.3f}" for name, short in names)
        per_viewer = ", ".join(f"{short} {r.server_cpu_per_viewer_minute(name):.4f}" for name, short in names)
        peak = max((w.generator_load for w in r.windows), default=0.0)
        flag = " saturated" if r.generator_saturated else ""
        print(f"{_run(r):<20}{cpu:>24}{per_request:>26}{per_viewer:>30}{r.generator_cpu:>16.1f}{peak:>15.2f}{flag}")
    anchor = next((r for r in results if r.layout == "nginx"), None)
    edge = next((r for r in results if r.layout == "edge" and r.mode == "standard"), None)
    if anchor and edge:
        for r in (edge, anchor):
            print(f"\nstandard mode, {r.layout}: {r.requests_per_second:.0f} req/s, segment p99 {r.p99_ms:.0f} ms, "
                  f"playlist p99 {r.playlist_p99_ms:.0f} ms, {_cpu_ms(r):.3f} server CPU-ms per request")  # fmt: skip
    for r in results:
        trace = "  ".join(f"{w.users:.0f}:{_ms(w.blocking_p99)}/{w.generator_load:.2f}/{w.server_load:.2f}"
                          for w in r.windows)  # fmt: skip
        print(f"\n{_run(r)} (load average {r.load_average:.1f}; longest gap between parts at the publisher "
              f"{r.publisher_max_gap:.2f} s) per {WINDOW_SECONDS:g} s "
              f"(viewers:block p99 ms/generator cores/server cores): {trace}")  # fmt: skip
        if r.errors:
            print(f"  errors: {r.errors}")
        if r.resyncs:
            print(f"  viewers that fell out of the part window and rejoined the live edge: {r.resyncs}")


def _run(result: SpikeResult) -> str:
    return f"{result.mode}:{result.layout}"


def _cpu_ms(result: SpikeResult) -> float:
    return 1000 * sum(result.server_cpu.values()) / result.requests if result.requests else 0.0


if __name__ == "__main__":
    sys.exit(main())
