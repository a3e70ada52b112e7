"""The content-aware ladder's analysis pass: how hard is this source to compress, rung by rung?

A few scenes sampled across the source (about 3 % of it, 0.25-2 s each) are cut into one lossless reference at the top
rung's size; each rung of the fixed ladder probe-encodes it at two constant-quality (CRF) points, and
libvmaf scores every probe. The probe encodes also predict how long the real encode will take: the
analysis stops and falls back to the fixed ladder once it has used `auto_ladder_max_analysis_share` of
that prediction, so its cost stays bounded. These are the only ffmpeg runs the auto ladder adds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamstack.media.autoladder import PROBE_CRFS, AutoLadder, ProbePoint, RungMeasurement, plan_auto_ladder
from streamstack.media.errors import MediaError
from streamstack.media.ladder import RenditionPlan
from streamstack.media.probe import Probe
from streamstack.media.safety import input_args, run_ffmpeg

SCENES = 3
SAMPLE_SHARE = 0.03
MIN_SCENE_SECONDS = 0.25
MAX_SCENE_SECONDS = 2.0
VMAF_SUBSAMPLE = 3
_VMAF_SCORE = re.compile(r"VMAF score: (\d+(?:\.\d+)?)")


class AnalysisStopped(Exception):
    """The analysis cannot finish usefully (over budget, or ffmpeg failed); the fixed ladder is used."""


@dataclass(frozen=True)
class LadderAnalysis:
    """The decision (None: fixed ladder kept) and what it cost, for the job's report."""

    ladder: AutoLadder | None
    seconds: float
    predicted_encode_seconds: float
    note: str


def sample_windows(duration: float) -> list[tuple[float, float]]:
    """(start, length) of the scenes: evenly spread, each about SAMPLE_SHARE / SCENES of the source."""
    length = min(MAX_SCENE_SECONDS, max(MIN_SCENE_SECONDS, duration * SAMPLE_SHARE / SCENES))
    if duration <= length * SCENES:
        return [(0.0, min(duration, length * SCENES))]
    centres = [(i + 0.5) * duration / SCENES for i in range(SCENES)]
    return [(round(min(max(0.0, c - length / 2), duration - length), 3), length) for c in centres]


def analyse_ladder(source: Path, info: Probe, fixed: Sequence[RenditionPlan], settings: Any, *,
                   workdir: Path, timeout: float) -> LadderAnalysis:
    """Measure, then decide; any failure or overrun keeps the fixed ladder and says why."""
    started = time.monotonic()
    run = _Analysis(source, info, fixed, settings, workdir, started, timeout)
    try:
        ladder = run.decide()
        note = "content-aware ladder"
    except AnalysisStopped as stopped:
        ladder, note = None, f"fixed ladder kept: {stopped}"
    return LadderAnalysis(ladder, time.monotonic() - started, run.predicted_encode, note)


class _Analysis:
    """One analysis: the sample, the probes, the budget check before every scoring run."""

    def __init__(self, source: Path, info: Probe, fixed: Sequence[RenditionPlan], settings: Any, workdir: Path,
                 started: float, timeout: float) -> None:
        self.source, self.info, self.fixed, self.settings = source, info, list(fixed), settings
        self.work = workdir / "ladder-analysis"
        self.work.mkdir(exist_ok=True)
        self.started, self.deadline = started, started + timeout
        self.predicted_encode = 0.0
        self.sample_seconds = 0.0

    def decide(self) -> AutoLadder:
        if self.info.duration <= 0 or len(self.fixed) == 0:
            raise AnalysisStopped("the source's duration is unknown")
        sample = self.cut_sample()
        probes = {plan.name: self.probe_encode(sample, plan) for plan in self.fixed}
        budget = self.settings.auto_ladder_max_analysis_share * self.predicted_encode
        ascending = sorted(self.fixed, key=lambda p: p.width * p.height)
        measured: dict[str, RungMeasurement] = {}
        for index, plan in enumerate(ascending):
            points = tuple(ProbePoint(crf, rate, self.score(path, sample, plan, budget))
                           for crf, rate, path in probes[plan.name])
            below = None
            if index > 0:  # the rung below at its best probe, shown at this rung's size
                below = self.score(probes[ascending[index - 1].name][0][2], sample, plan, budget)
            measured[plan.name] = RungMeasurement(plan.name, (points[0], points[1]), below)
        return plan_auto_ladder(self.fixed, measured, target_vmaf=self.settings.auto_ladder_target_vmaf,
                                min_gain=self.settings.auto_ladder_min_vmaf_gain)

    def cut_sample(self) -> Path:
        """The sampled scenes at the top rung's size and the output frame rate, losslessly coded."""
        top, windows = self.fixed[0], sample_windows(self.info.duration)
        rate = f"{top.frame_rate.numerator}/{top.frame_rate.denominator}"
        deinterlace = "bwdif=mode=send_field:deint=interlaced," if self.info.interlaced else ""
        opening, path = input_args(self.source)[:-2], input_args(self.source)[-1]
        args = ["-y", "-loglevel", "error"]
        chains = []
        for index, (start, length) in enumerate(windows):
            args += [*opening, "-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", path]
            chains.append(f"[{index}:{self.info.video_stream}]{deinterlace}fps={rate},scale={top.width}:{top.height}"
                          f":flags=bicubic,setsar=1,format=yuv420p,setpts=PTS-STARTPTS[c{index}]")
        joined = "".join(f"[c{i}]" for i in range(len(windows)))
        graph = ";".join(chains) + f";{joined}concat=n={len(windows)}:v=1:a=0[ref]"
        sample = self.work / "sample.mkv"
        self.ffmpeg([*args, "-filter_complex", graph, "-map", "[ref]", "-c:v", "libx264", "-preset", "ultrafast",
                     "-qp", "0", sample.name], "cutting the sample")
        self.sample_seconds = sum(length for _, length in windows)
        return sample

    def probe_encode(self, sample: Path, plan: RenditionPlan) -> list[tuple[int, int, Path]]:
        """Both CRF probes of one rung in one run; their speed predicts this rung's share of the encode."""
        names = [self.work / f"probe-{plan.name}-crf{crf}.mp4" for crf in PROBE_CRFS]
        graph = (f"[0:v]scale={plan.width}:{plan.height}:flags=bicubic,setsar=1,format=yuv420p,"
                 f"split={len(PROBE_CRFS)}" + "".join(f"[p{i}]" for i in range(len(PROBE_CRFS))))
        args = ["-y", "-loglevel", "error", "-i", sample.name, "-filter_complex", graph]
        for index, (crf, name) in enumerate(zip(PROBE_CRFS, names, strict=True)):
            args += ["-map", f"[p{index}]", "-c:v", "libx264", "-preset", self.settings.x264_preset,
                     "-profile:v", plan.profile, "-crf", str(crf), "-g", str(plan.gop_frames),
                     "-keyint_min", str(plan.gop_frames), "-sc_threshold", "0", "-an", name.name]
        began = time.monotonic()
        self.ffmpeg(args, f"probe-encoding {plan.name}")
        per_probe = (time.monotonic() - began) / len(PROBE_CRFS)
        self.predicted_encode += per_probe * self.info.duration / max(self.sample_seconds, 1e-3)
        return [(crf, round(name.stat().st_size * 8 / self.sample_seconds), name)
                for crf, name in zip(PROBE_CRFS, names, strict=True)]

    def score(self, distorted: Path, sample: Path, plan: RenditionPlan, budget: float) -> float:
        """VMAF of a probe against the sample, both shown at `plan`'s size; refuses to start over budget."""
        spent = time.monotonic() - self.started
        if spent > budget:
            raise AnalysisStopped(f"the analysis used {spent:.1f} s, over its budget of {budget:.1f} s "
                                  f"({self.settings.auto_ladder_max_analysis_share:.0%} of the predicted encode)")
        size = f"{plan.width}:{plan.height}"
        # Frame numbers, not container timestamps (ms in Matroska), pair the frames: no off-by-one matches.
        clock = f"setpts=N*{plan.frame_rate.denominator}/{plan.frame_rate.numerator}/TB"
        graph = (f"[0:v]scale={size}:flags=bicubic,{clock}[d];"
                 f"[1:v]scale={size}:flags=bicubic,{clock}[r];"
                 f"[d][r]libvmaf=n_threads=2:n_subsample={VMAF_SUBSAMPLE}")
        stderr = self.ffmpeg(["-nostats", "-loglevel", "info", "-i", distorted.name, "-i", sample.name,
                              "-lavfi", graph, "-f", "null", "-"], f"scoring {distorted.name}")
        match = _VMAF_SCORE.search(stderr)
        if match is None:
            raise AnalysisStopped(f"libvmaf gave no score for {distorted.name}")
        return float(match.group(1))

    def ffmpeg(self, args: list[str], what: str) -> str:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AnalysisStopped("the job's time limit left no room for the analysis")
        try:
            run = run_ffmpeg(args, cwd=self.work, timeout_seconds=left)
        except MediaError as exc:
            raise AnalysisStopped(f"{what} stopped: {exc.message}") from exc
        if run.returncode != 0:
            raise AnalysisStopped(f"ffmpeg failed {what}")
        return run.stderr
