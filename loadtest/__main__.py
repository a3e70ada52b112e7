"""The kickoff spike on loopback: N -> 10N viewers in 60 s per layout, one live session, printed as a table.

    .venv/bin/python -m loadtest [--start 100] [--ramp 60] [--runs ll:edge,ll:two-tiers,...] [--json out.json]
    .venv/bin/python -m loadtest --pin --capacity-json docs/capacity.json   # the figures docs/capacity.md quotes
    .venv/bin/python -m loadtest --bounded     # 100 -> 1,000 in 30 s, LL behind two tiers (what `make test` runs)

A run is MODE:LAYOUT. Modes: ll (LL-HLS, blocking reloads and parts), standard (standard live, polling every
target duration), vod (the VOD asset). Layouts: edge (one edge process), two-tiers (an edge reading through a
shield edge, which alone reads the store), nginx (1 worker, open_file_cache; standard mode only: the anchor).
Each run gets fresh server processes; the publisher runs for the whole command.

The generator is Locust's distributed mode on loopback: a master in this process and `--workers` worker
processes (default: one per core it may use; 0 runs the viewers in this process). `--pin` gives the servers
core 0 and the generator (and the publisher) the other cores, so that each one's CPU is its own.
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

from loadtest.capacity import capacity_figures
from loadtest.spike import WINDOW_SECONDS, GeneratorPlan, Profile, SpikeResult, run_spike
from loadtest.stack import Layout, Stack, pin_tree

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
    parser.add_argument("--workers", type=int, help="Locust worker processes (default: one per generator core)")
    parser.add_argument("--pin", action="store_true", help="servers on core 0, the generator on the others")
    parser.add_argument("--capacity-json", type=Path, help="write the per-core edge figures (docs/capacity.json)")
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
    plan, server_cpus = generator_plan(args.workers, args.pin)
    load_before = os.getloadavg()
    results: list[SpikeResult] = []
    with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
        stack = Stack(Path(tmp), server_cpus=server_cpus)
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
                    results.append(run_spike(stack, layout, mode, profile, plan))
                finally:
                    stack.stop(layout)
                time.sleep(SETTLE_SECONDS)
        finally:
            stack.close()
    print_report(results, load_before, os.getloadavg(), plan)
    if args.json:
        args.json.write_text(json.dumps({"results": [r.as_dict() for r in results], "load_before": load_before,
                                         "load_after": os.getloadavg(), "cpus": os.cpu_count()}, indent=1))  # fmt: skip
    if args.capacity_json:
        command = " ".join(["python -m loadtest", *(argv if argv is not None else sys.argv[1:])])
        figures = capacity_figures(results, command=command, load_before=load_before[0], pinned=plan.pinned)
        args.capacity_json.write_text(json.dumps(figures, indent=1) + "\n")
    ok = all(r.failures == 0 and (r.store_reads is None or r.store_reads.exactly_once) for r in results)
    return 0 if ok else 1


def generator_plan(workers: int | None, pin: bool) -> tuple[GeneratorPlan, set[int] | None]:
    """Worker processes and cores for the generator, and the servers' cores when pinned (this process pinned now)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        count = len(cpus) if workers is None else workers
        return GeneratorPlan(count, float(len(cpus))), None
    server, generator = {cpus[0]}, set(cpus[1:])
    pin_tree(os.getpid(), generator)  # the workers and the publisher inherit it; servers are moved when started
    count = len(generator) if workers is None else workers
    cores = ",".join(map(str, sorted(generator)))
    pinned = f"servers on CPU {cpus[0]}, generator and publisher on CPU {cores} (sched_setaffinity, as taskset)"
    return GeneratorPlan(count, float(len(generator)), pinned), server


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def print_report(results: list[SpikeResult], load_before: tuple[float, ...], load_after: tuple[float, ...],
                 plan: GeneratorPlan) -> None:  # fmt: skip
    print(f"\n{os.cpu_count()} cores; generator: Locust, {_generator(plan)}; 1-min load {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")  # fmt: skip
    if plan.pinned:
        print(f"pinned: {plan.pinned}")
    print("viewers: start -> most reached; req/v-s: requests per viewer-second (the protocol's rate in brackets)")
    print("latency: LL, blocking reloads past the part's publication; standard and VOD, every response")
    print(
        "knee: viewers when a 5 s window's latency p99 first passed one part target ('>' = not reached), and who was"
        " at its limit then: s = a server (>= 0.9 core), g = the generator, - = neither (timing, other load)"
    )
    print(f"{'run':<20}{'viewers':>12}{'req/s':>8}{'req/v-s':>12}{'errors':>7}{'stalls/v-min':>13}"
          f"{'latency p50/p99 ms':>20}{'knee':>10}")  # fmt: skip
    for r in results:
        cause = {"server": " s", "generator": " g", "neither": " -"}.get(r.knee_cause, "")
        knee = f"{r.knee_users:.0f}{cause}" if r.knee_users else f">{r.viewers_reached}"
        rate = f"{r.requests_per_viewer_second:.2f} ({r.protocol_rate:g})"
        p50, p99 = (r.blocking_p50, r.blocking_p99) if r.mode == "ll" else (r.response_p50, r.response_p99)
        print(f"{_run(r):<20}{f'{r.profile.start_users}->{r.viewers_reached}':>12}{r.requests_per_second:>8.0f}"
              f"{rate:>12}{r.failures:>7}{r.stalls_per_viewer_minute:>13.3f}{f'{_ms(p50)}/{_ms(p99)}':>20}"
              f"{knee:>10}")  # fmt: skip
    print(f"\n{'run':<20}{'store reads per object':<44}{'edge->shield reads':<30}")
    for r in results:
        store = r.store_reads.summary() if r.store_reads else "- (files)"
        tier = r.tier_reads.summary() if r.tier_reads else "-"
        print(f"{_run(r):<20}{store:<44}{tier:<30}")
    print("  (rendition fewest..most reads (objects read); target: exactly 1 for every part or segment)")
    print("\nknee per server core, computed = 60 / (CPU-s per viewer-minute x protocol rate / measured rate)"
          " = 1 / (CPU-s per request x protocol rate)")  # fmt: skip
    print(f"{'run':<20}{'server CPU-s':<26}{'CPU-ms / request':<28}{'CPU-s / viewer-min':<30}"
          f"{'viewers / core':<24}{'generator CPU-s':>16}{'peak gen cores':>16}")  # fmt: skip
    for r in results:
        names = [(name, name.split("-")[0]) for name in r.server_cpu]
        cpu = ", ".join(f"{short} {r.server_cpu[name]:.1f}" for name, short in names)
        per_request = ", ".join(f"{short} {r.server_cpu_ms_per_request(name):.3f}" for name, short in names)
        per_viewer = ", ".join(f"{short} {r.server_cpu_per_viewer_minute(name):.4f}" for name, short in names)
        per_core = ", ".join(f"{short} {r.viewers_per_core(name):.0f}" for name, short in names)
        peak = max((w.generator_load for w in r.windows), default=0.0)
        flag = " saturated" if r.generator_saturated else ""
        print(f"{_run(r):<20}{cpu:<26}{per_request:<28}{per_viewer:<30}{per_core:<24}{r.generator_cpu:>16.1f}"
              f"{f'{peak:.2f}/{r.generator_cores:g}':>16}{flag}")  # fmt: skip
    anchor = next((r for r in results if r.layout == "nginx"), None)
    edge = next((r for r in results if r.layout == "edge" and r.mode == "standard"), None)
    if anchor and edge:
        print()
        for r in (edge, anchor):
            print(f"standard mode, {r.layout:<6}: {r.requests_per_second:6.0f} req/s, segment p99 {r.p99_ms:6.0f} ms, "
                  f"playlist p99 {r.playlist_p99_ms:6.0f} ms, {_cpu_ms(r):.3f} server CPU-ms per request")  # fmt: skip
        if _cpu_ms(edge):
            print(f"edge / nginx: {edge.requests_per_second / anchor.requests_per_second:.2f}x req/s, "
                  f"{edge.p99_ms / max(anchor.p99_ms, 1):.2f}x segment p99, "
                  f"{_cpu_ms(anchor) / _cpu_ms(edge):.2f}x requests per CPU-second")  # fmt: skip
    for r in results:
        trace = "  ".join(f"{w.users:.0f}:{_ms(w.blocking_p99)}/{w.generator_load:.2f}/{w.busiest_server:.2f}"
                          for w in r.windows)  # fmt: skip
        print(f"\n{_run(r)} (load average {r.load_average:.1f}; longest gap between parts at the publisher "
              f"{r.publisher_max_gap:.2f} s) per {WINDOW_SECONDS:g} s "
              f"(viewers:latency p99 ms/generator cores/busiest server's cores): {trace}")  # fmt: skip
        if r.errors:
            print(f"  errors: {r.errors}")
        if r.resyncs:
            print(f"  viewers that fell out of the part window and rejoined the live edge: {r.resyncs}")


def _generator(plan: GeneratorPlan) -> str:
    if plan.workers == 0:
        return "one process (local runner)"
    return f"master + {plan.workers} worker process(es) on loopback, at most {plan.cores:g} core(s)"


def _run(result: SpikeResult) -> str:
    return f"{result.mode}:{result.layout}"


def _cpu_ms(result: SpikeResult) -> float:
    return 1000 * sum(result.server_cpu.values()) / result.requests if result.requests else 0.0


if __name__ == "__main__":
    sys.exit(main())
