"""Benchmark the ABR ladder: our pipeline vs one ffmpeg per rendition vs a hand-written single command,
and the content-aware ladder (`ladder: "auto"`) vs the fixed one on an easy and a hard source.

    .venv/bin/python bench/ladder.py [--seconds 60] [--no-vmaf]
    .venv/bin/python bench/ladder.py --content-aware [--seconds 20] [--height 720]

Content-aware mode: two generated 30 fps sources (720p by default) of very different complexity, a near-static "talking
head" (soft gradient, gently swaying block) and a high-motion noisy pattern (testsrc2 + strong temporal
noise), each encoded by the pipeline with the fixed ladder and with `auto`. It prints total video bytes,
per-rung bitrate and VMAF, and the auto analysis time as a share of the encode. Goals: >= 20 % fewer
bytes on the easy source with a top-rung VMAF at most 1 point lower; no rung of the hard source worse.

Source: a generated 1080p30 clip (testsrc2 + temporal noise so bitrates matter, sine audio), encoded
once with x264 like a phone upload and cached. Runs, one after the other on the same machine:
  (a) `encode_asset` (one decode, 5 renditions + audio + poster + storyboard, segments published live),
  (b) one ffmpeg per rendition, as MediaCMS and PeerTube do (commands from our own builder, audio
      encoded once with the first run; no images, so (b) does less work than (a)),
  (c) the hand-written single-command recipe (split + var_stream_map; no images either).
Then time to playable and, per rendition, bitrate and VMAF (libvmaf of the bundled ffmpeg) against the
source scaled to the rendition's size. Targets: (a) wall <= 0.80x (b) and <= 1.05x (c); playable <= 0.25x (a).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
# ^ bench/queue.py (another benchmark) would shadow the stdlib `queue` used to supervise ffmpeg

from streamstack.media.hls import RenditionFiles, build_encode_command  # noqa: E402
from streamstack.media.ladder import RenditionPlan, plan_audio, plan_ladder  # noqa: E402
from streamstack.media.mp4 import join_fragments  # noqa: E402
from streamstack.media.options import EncodeOptions  # noqa: E402
from streamstack.media.pipeline import EncodeResult, encode_asset  # noqa: E402
from streamstack.media.probe import probe  # noqa: E402
from streamstack.media.safety import run_ffmpeg  # noqa: E402
from streamstack.settings import Settings  # noqa: E402
from streamstack.storage.local import LocalObjectStore  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "streamstack-bench"
LIMIT = 3600.0


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def measure(fn: Callable[[], object]) -> tuple[Timing, object]:
    """Wall seconds and CPU seconds (this process plus every ffmpeg it waited for)."""
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    value = fn()
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        getattr(after, field) - getattr(before, field)
        for before, after in ((before_self, after_self), (before_children, after_children))
        for field in ("ru_utime", "ru_stime")
    )
    return Timing(wall, cpu), value


def make_source(seconds: int) -> Path:
    """A 1080p30 H.264/AAC file like a phone upload, generated once and cached."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"source-1080p30-{seconds}s.mp4"
    if path.exists():
        return path
    args = [
        "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds},noise=alls=10:allf=t",
        "-f", "lavfi", "-i", f"sine=f=440:d={seconds}:sample_rate=48000",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-shortest", "-movflags", "+faststart", path.name,
    ]  # fmt: skip
    run = run_ffmpeg(args, cwd=CACHE, timeout_seconds=LIMIT)
    if run.returncode != 0:
        sys.exit(f"could not generate the source: {run.stderr[-500:]}")
    return path


def run_pipeline(source: Path, work: Path, settings: Settings,
                 options: EncodeOptions = EncodeOptions()) -> tuple[EncodeResult, float | None]:
    """(a) the real job, from an object store to an object store."""
    store = LocalObjectStore(work / "store")
    store.put_file("uploads/bench", source)
    started = time.monotonic()
    playable: list[float] = []
    result = encode_asset(
        store=store,
        asset_id="bench",
        source_key="uploads/bench",
        settings=settings,
        on_progress=lambda _: None,
        on_playable=lambda: playable.append(time.monotonic() - started),
        options=options,
    )
    return result, (playable[0] if playable else None)


def run_per_rendition(source: Path, work: Path, settings: Settings) -> list[tuple[str, float]]:
    """(b) one process per rendition, lowest first; returns when each rendition finished."""
    info = probe(source)
    plans = sorted(plan_ladder(info, settings), key=lambda p: p.height)
    audio = plan_audio(info)
    finished: list[tuple[str, float]] = []
    started = time.monotonic()
    for index, plan in enumerate(plans):
        out = work / f"b-{plan.name}"
        out.mkdir()
        args = build_encode_command(
            source, info, [plan], audio if index == 0 else None, settings, progress=False
        )
        _check(run_ffmpeg(args, cwd=out, timeout_seconds=LIMIT))
        finished.append((plan.name, time.monotonic() - started))
    return finished


def hand_written_command(source: Path) -> list[str]:
    """(c) the single-command recipe people write by hand for a 1080p source (split + var_stream_map)."""
    ladder = [("1920:1080", "6000k", "6600k", "12000k"), ("1280:720", "3000k", "3300k", "6000k"),
              ("854:480", "1200k", "1320k", "2400k"), ("640:360", "730k", "803k", "1460k"),
              ("426:240", "300k", "330k", "600k")]  # fmt: skip
    split = "[0:v]fps=30,split=5" + "".join(f"[s{i}]" for i in range(5))
    scales = ";".join(f"[s{i}]scale={size},format=yuv420p[v{i}]" for i, (size, *_) in enumerate(ladder))
    args = ["-y", "-loglevel", "error", "-i", str(source), "-filter_complex", f"{split};{scales}"]
    for i, (_, rate, peak, buf) in enumerate(ladder):
        args += ["-map", f"[v{i}]", f"-c:v:{i}", "libx264", f"-b:v:{i}", rate, f"-maxrate:v:{i}", peak,
                 f"-bufsize:v:{i}", buf]  # fmt: skip
    args += [
        "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        "-preset", "veryfast", "-profile:v", "high", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-flags", "+cgop", "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments", "-master_pl_name", "master.m3u8",
        "-var_stream_map", " ".join(f"v:{i},agroup:aud" for i in range(5)) + " a:0,agroup:aud",
        "-hls_segment_filename", "stream_%v_%05d.m4s", "stream_%v.m3u8",
    ]  # fmt: skip
    return args


def run_hand_written(source: Path, work: Path) -> None:
    out = work / "c"
    out.mkdir()
    _check(run_ffmpeg(hand_written_command(source), cwd=out, timeout_seconds=LIMIT))


def vmaf(rendition: Path, source: Path, plan: RenditionPlan, subsample: int) -> float | None:
    """VMAF of a rendition against the source scaled to its size (same fps, same start)."""
    graph = (
        f"[0:v]setpts=PTS-STARTPTS[dist];[1:v]fps={plan.frame_rate},scale={plan.width}:{plan.height}:"
        f"flags=bicubic,format=yuv420p,setpts=PTS-STARTPTS[ref];[dist][ref]libvmaf=n_subsample={subsample}"
        ":n_threads=2"
    )
    args = ["-i", str(rendition), "-i", str(source), "-lavfi", graph, "-f", "null", "-"]
    run = run_ffmpeg(args, cwd=rendition.parent, timeout_seconds=LIMIT)
    match = re.search(r"VMAF score: ([\d.]+)", run.stderr)
    return float(match.group(1)) if match else None


def _check(run: object) -> None:
    if getattr(run, "returncode", 1) != 0:
        sys.exit(f"ffmpeg failed: {getattr(run, 'stderr', '')[-800:]}")


CONTENT_SOURCES = {  # sizes in units of 1/6 of the height, so any 16:9 size works
    "easy (near-static talking head)": "gradients=s={w}x{h}:c0=0x304050:c1=0x8090a0:speed=0.01:r=30:d={s},"
    "drawbox=x={w}*5/12+{h}/27*sin(t*2):y={h}/3.6:w={h}/3.4:h={h}/2.35:color=0xd0a080:t=fill",
    "hard (high-motion noisy)": "testsrc2=s={w}x{h}:r=30:d={s},noise=alls=25:allf=t+u",
}


def make_content_source(name: str, pattern: str, seconds: int, height: int) -> Path:
    """A camera-like upload of one of the two patterns (x264 CRF 16), generated once and cached."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"content-{name.split()[0]}-{height}p-{seconds}s.mp4"
    if not path.exists():
        size = {"w": 2 * round(height * 16 / 9 / 2), "h": height, "s": seconds}
        args = ["-y", "-f", "lavfi", "-i", pattern.format(**size), "-f", "lavfi", "-i",
                f"sine=f=440:d={seconds}:sample_rate=48000", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path.name]  # fmt: skip
        _check(run_ffmpeg(args, cwd=CACHE, timeout_seconds=LIMIT))
    return path


def content_aware(opts: argparse.Namespace, work: Path) -> None:
    """Fixed vs auto on both sources: bytes, per-rung VMAF, analysis share; goals checked from this one run."""
    settings = Settings()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine); "
          f"target VMAF {settings.auto_ladder_target_vmaf:g}, min gain {settings.auto_ladder_min_vmaf_gain:g}",
          flush=True)  # fmt: skip
    for name, pattern in CONTENT_SOURCES.items():
        source = make_content_source(name, pattern, opts.seconds, opts.height)
        plans = {p.name: p for p in plan_ladder(probe(source), settings)}
        runs = {}
        for mode in ("fixed", "auto"):
            folder = work / f"{name.split()[0]}-{mode}"
            result, _ = run_pipeline(source, folder, settings, EncodeOptions(ladder=mode))  # type: ignore[arg-type]
            store_dir = folder / "store" / "assets" / result.asset_id
            scores = {}
            for r in result.renditions:
                joined = join_fragments(store_dir, RenditionFiles(r.name).playlist, folder / f"vmaf-{r.name}.mp4")
                scores[r.name] = vmaf(joined, source, plans[r.name], opts.vmaf_subsample)
            runs[mode] = (result, scores)
        print_content_aware(name, runs)


def print_content_aware(name: str, runs: dict[str, tuple[EncodeResult, dict[str, float | None]]]) -> None:
    (fixed, fixed_vmaf), (auto, auto_vmaf) = runs["fixed"], runs["auto"]
    report = auto.ladder
    assert report is not None
    print(f"\n== {name} ==  auto: {report.note}")
    print(f"{'rung':<8}{'fixed kb/s':>11}{'auto kb/s':>11}{'fixed VMAF':>12}{'auto VMAF':>11}  auto decision")
    auto_rungs = {r.name: r for r in auto.renditions}
    decisions = {d.name: d for d in report.rungs}
    for r in fixed.renditions:
        a = auto_rungs.get(r.name)
        shown = lambda v: f"{v:.1f}" if v is not None else "-"  # noqa: E731
        decision = decisions.get(r.name)
        note = (f"{'kept' if decision.kept else 'dropped'}: {decision.reason}" if decision else "")
        print(f"{r.name:<8}{r.average_bitrate / 1000:>11.0f}{(a.average_bitrate / 1000 if a else 0):>11.0f}"
              f"{shown(fixed_vmaf.get(r.name)):>12}{shown(auto_vmaf.get(r.name)):>11}  {note}")  # fmt: skip
    fixed_bytes = sum(r.size_bytes for r in fixed.renditions)
    auto_bytes = sum(r.size_bytes for r in auto.renditions)
    encode = auto.encode_seconds - report.analysis_seconds
    top = fixed.renditions[0].name
    print(f"total video bytes: fixed {fixed_bytes / 1e6:.2f} MB, auto {auto_bytes / 1e6:.2f} MB = "
          f"{auto_bytes / fixed_bytes:.2f}x ({(1 - auto_bytes / fixed_bytes) * 100:.0f} % fewer)")
    top_delta = (auto_vmaf.get(top) or 0) - (fixed_vmaf.get(top) or 0)
    worst = min(((auto_vmaf.get(n) or 0) - (v or 0) for n, v in fixed_vmaf.items() if n in auto_vmaf), default=0)
    print(f"top rung ({top}) VMAF auto - fixed = {top_delta:+.2f}; worst kept rung {worst:+.2f}")
    print(f"analysis {report.analysis_seconds:.1f} s = {report.analysis_seconds / encode:.2f} of the auto encode "
          f"({encode:.1f} s) and {report.analysis_seconds / fixed.encode_seconds:.2f} of the fixed one "
          f"({fixed.encode_seconds:.1f} s); budget 0.15 of the predicted {report.predicted_encode_seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60, help="source duration (default 60)")
    parser.add_argument("--no-vmaf", action="store_true", help="skip the VMAF measurements")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (a)(b)(c); best wall of each")
    parser.add_argument("--vmaf-subsample", type=int, default=5, help="score every Nth frame (default 5)")
    parser.add_argument("--content-aware", action="store_true", help="fixed vs auto ladder on two sources")
    parser.add_argument("--height", type=int, default=720, help="content-aware sources' height (default 720)")
    opts = parser.parse_args()
    if opts.content_aware:
        work = Path(tempfile.mkdtemp(prefix="streamstack-bench-"))
        try:
            content_aware(opts, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    settings = Settings()
    gen, source = measure(lambda: make_source(opts.seconds))
    print(f"source: {source} (1080p30, {opts.seconds} s; ready in {gen.wall:.1f} s)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="streamstack-bench-"))
    try:
        report(opts, settings, Path(str(source)), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Round:
    a: Timing
    b: Timing
    c: Timing
    playable: float | None
    lowest_first: tuple[str, float]
    result: EncodeResult


def run_round(index: int, settings: Settings, source: Path, work: Path) -> Round:
    """(a), (b) and (c) back to back in fresh directories."""
    folder = work / f"round-{index}"
    folder.mkdir()
    a_time, a_value = measure(lambda: run_pipeline(source, folder / "a", settings))
    result, playable = a_value  # type: ignore[misc]
    b_time, finished = measure(lambda: run_per_rendition(source, folder, settings))
    c_time, _ = measure(lambda: run_hand_written(source, folder))
    return Round(a_time, b_time, c_time, playable, finished[0], result)  # type: ignore[index]


def report(opts: argparse.Namespace, settings: Settings, source: Path, work: Path) -> None:
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)", flush=True
    )
    rounds = []
    for index in range(opts.repeat):
        rounds.append(run_round(index, settings, source, work))
        r = rounds[-1]
        print(f"round {index + 1}: wall a={r.a.wall:.1f} b={r.b.wall:.1f} c={r.c.wall:.1f} s; "
              f"cpu a={r.a.cpu:.1f} b={r.b.cpu:.1f} c={r.c.cpu:.1f} s; playable {r.playable or 0:.1f} s; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    best_a = min(rounds, key=lambda r: r.a.wall)
    a, b, c = (
        best_a.a,
        min((r.b for r in rounds), key=lambda t: t.wall),
        min((r.c for r in rounds), key=lambda t: t.wall),
    )
    label = f"best of {len(rounds)}" if len(rounds) > 1 else "one run"
    print(f"\n{'run (' + label + ')':<58}{'wall s':>9}{'cpu s':>9}")
    print(f"{'(a) pipeline: 1 decode, 5 renditions + audio + images':<58}{a.wall:>9.1f}{a.cpu:>9.1f}")
    print(f"{'(b) one ffmpeg per rendition (MediaCMS / PeerTube)':<58}{b.wall:>9.1f}{b.cpu:>9.1f}")
    print(f"{'(c) hand-written single ffmpeg command':<58}{c.wall:>9.1f}{c.cpu:>9.1f}")
    print(f"\n(a)/(b) wall = {a.wall / b.wall:.2f}  (target <= 0.80)   cpu = {a.cpu / b.cpu:.2f}")
    print(f"(a)/(c) wall = {a.wall / c.wall:.2f}  (target <= 1.05)   cpu = {a.cpu / c.cpu:.2f}")
    if best_a.playable is not None:
        name, seconds = best_a.lowest_first
        share = best_a.playable / a.wall
        print(f"time to playable (a) = {best_a.playable:.1f} s = {share:.2f} of the ladder's {a.wall:.1f} s "
              "(target <= 0.25)")  # fmt: skip
        print(f"lowest-rendition-first would be playable after {seconds:.1f} s (the {name} run of (b), "
              "which decodes the source again)")  # fmt: skip
    print_renditions(opts, best_a.result, source, work / f"round-{rounds.index(best_a)}")


def print_renditions(opts: argparse.Namespace, result: EncodeResult, source: Path, work: Path) -> None:
    info = probe(source)
    plans = {p.name: p for p in plan_ladder(info, Settings())}
    store_dir = work / "a" / "store" / "assets" / result.asset_id
    label = "VMAF" if not opts.no_vmaf else "VMAF (skipped)"
    print(f"\n{'rendition':<10}{'size':>11}{'peak kb/s':>11}{'avg kb/s':>10}  {'codecs':<13}{label:>8}")
    for r in result.renditions:
        score = None
        if not opts.no_vmaf:
            joined = join_fragments(store_dir, RenditionFiles(r.name).playlist, work / f"vmaf-{r.name}.mp4")
            score = vmaf(joined, source, plans[r.name], opts.vmaf_subsample)
        shown = f"{score:.1f}" if score is not None else "-"
        print(
            f"{r.name:<10}{f'{r.width}x{r.height}':>11}"
            f"{r.bitrate / 1000:>11.0f}{r.average_bitrate / 1000:>10.0f}"
            f"  {r.codecs:<13}{shown:>8}"
        )
    if result.audio:
        print(f"{'audio':<10}{'stereo':>11}{result.audio.bitrate / 1000:>11.0f}"
              f"{result.audio.average_bitrate / 1000:>10.0f}  {result.audio.codecs:<13}")  # fmt: skip
    if not opts.no_vmaf:
        print(
            f"(VMAF: libvmaf, default vmaf_v0.6.1 model, every {opts.vmaf_subsample}th frame, "
            "against the source scaled to the rendition)"
        )


if __name__ == "__main__":
    main()
