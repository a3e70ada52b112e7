"""The content-aware ladder's analysis pass: how hard is this source to compress, rung by rung?

A few scenes sampled across the source (about 3 % of it, 0.25-2 s each) are cut into one lossless reference at the top
rung's size; each rung of the fixed ladder probe-encodes it at two constant-quality (CRF) points (one ffmpeg run), and
libvmaf scores every probe (one run per rung). The probe encodes also predict how long the real encode will take: the
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
_VMAF_SCORE = re.compile(r"\[libvmaf@s(\d+) @ [^\]]*\] VMAF score: (\d+(?:\.\d+)?)")


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
        probes = self.probe_encode(sample)
        budget = self.settings.auto_ladder_max_analysis_share * self.predicted_encode
        ascending = sorted(self.fixed, key=lambda p: p.width * p.height)
        measured: dict[str, RungMeasurement] = {}
        for index, plan in enumerate(ascending):
            own = [path for _, _, path in probes[plan.name]]
            below = [probes[ascending[index - 1].name][0][2]] if index > 0 else []  # its best probe
            scores = self.score(own + below, sample, plan, budget)
            points = tuple(ProbePoint(crf, rate, score)
                           for (crf, rate, _), score in zip(probes[plan.name], scores, strict=False))
            measured[plan.name] = RungMeasurement(plan.name, (points[0], points[1]),
                                                  scores[len(own)] if below else None)
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

    def probe_encode(self, sample: Path) -> dict[str, list[tuple[int, int, Path]]]:
        """Every rung at both CRF points in one run (one decode, like the real encode); its speed predicts that."""
        chains = [f"[0:v]split={len(self.fixed)}" + "".join(f"[s{i}]" for i in range(len(self.fixed)))]
        outputs: list[str] = []
        files: dict[str, list[tuple[int, Path]]] = {}
        for index, plan in enumerate(self.fixed):
            labels = [f"p{index}_{crf}" for crf in PROBE_CRFS]
            chains.append(f"[s{index}]scale={plan.width}:{plan.height}:flags=bicubic,setsar=1,format=yuv420p,"
                          f"split={len(PROBE_CRFS)}" + "".join(f"[{label}]" for label in labels))
            files[plan.name] = [(crf, self.work / f"probe-{plan.name}-crf{crf}.mp4") for crf in PROBE_CRFS]
            for label, (crf, path) in zip(labels, files[plan.name], strict=True):
                outputs += ["-map", f"[{label}]", "-c:v", "libx264", "-preset", self.settings.x264_preset,
                            "-profile:v", plan.profile, "-crf", str(crf), "-g", str(plan.gop_frames),
                            "-keyint_min", str(plan.gop_frames), "-sc_threshold", "0", "-an", path.name]
        began = time.monotonic()
        self.ffmpeg(["-y", "-loglevel", "error", "-i", sample.name, "-filter_complex", ";".join(chains), *outputs],
                    "probe-encoding the rungs")
        per_pass = (time.monotonic() - began) / len(PROBE_CRFS)  # the real encode makes one pass of every rung
        self.predicted_encode = per_pass * self.info.duration / max(self.sample_seconds, 1e-3)
        return {name: [(crf, round(path.stat().st_size * 8 / self.sample_seconds), path) for crf, path in probes]
                for name, probes in files.items()}

    def score(self, distorted: Sequence[Path], sample: Path, plan: RenditionPlan, budget: float) -> list[float]:
        """VMAF of each file against the sample, all shown at `plan`'s size, in one run; not begun over budget."""
        spent = time.monotonic() - self.started
        if spent > budget:
            raise AnalysisStopped(f"the analysis used {spent:.1f} s, over its budget of {budget:.1f} s "
                                  f"({self.settings.auto_ladder_max_analysis_share:.0%} of the predicted encode)")
        size = f"{plan.width}:{plan.height}"
        # Frame numbers, not container timestamps (ms in Matroska), pair the frames: no off-by-one matches.
        clock = f"setpts=N*{plan.frame_rate.denominator}/{plan.frame_rate.numerator}/TB"
        count = len(distorted)
        chains = [f"[0:v]scale={size}:flags=bicubic,{clock},split={count}" + "".join(f"[r{i}]" for i in range(count))]
        inputs: list[str] = ["-i", sample.name]
        outputs: list[str] = []
        for index, path in enumerate(distorted):
            inputs += ["-i", path.name]
            chains.append(f"[{index + 1}:v]scale={size}:flags=bicubic,{clock}[d{index}]")
            chains.append(f"[d{index}][r{index}]libvmaf@s{index}=n_threads=2:n_subsample={VMAF_SUBSAMPLE}[o{index}]")
            outputs += ["-map", f"[o{index}]", "-f", "null", "-"]
        stderr = self.ffmpeg(["-nostats", "-loglevel", "info", *inputs, "-filter_complex", ";".join(chains),
                              *outputs], f"scoring the {plan.name} probes")
        scores = {int(i): float(v) for i, v in _VMAF_SCORE.findall(stderr)}
        if len(scores) != count:
            raise AnalysisStopped(f"libvmaf gave {len(scores)} of {count} scores for {plan.name}")
        return [scores[i] for i in range(count)]

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
