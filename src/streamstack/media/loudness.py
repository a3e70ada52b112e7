"""EBU R128 loudness: plan ffmpeg's loudnorm (two passes when the analysis fits its budget) and read levels back.

The normalisation runs inside the one encode (a filter on the audio rendition). A short audio-only
analysis pass beforehand lets loudnorm apply one linear gain (dynamics untouched); without it, or when
the analysis does not finish in its budget, loudnorm normalises dynamically in a single pass. Every
encode measures the integrated loudness of the audio it writes (ebur128), normalised or not.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamstack.media.errors import MediaError
from streamstack.media.safety import input_args, run_ffmpeg

LOUDNESS_LOG = "loudness.txt"
SILENCE_LUFS = -70.0  # ebur128's absolute gate: anything at or below is silence
DEFAULT_LRA = 7.0  # loudnorm's own default loudness range target
MAX_LRA = 50.0
_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)
_INTEGRATED = re.compile(r"^lavfi\.r128\.I=(-?\d+(?:\.\d+)?)$", re.M)


@dataclass(frozen=True)
class LoudnessMeasurement:
    """What loudnorm's analysis pass reports about the source."""

    integrated: float
    true_peak: float
    lra: float
    threshold: float
    offset: float


@dataclass(frozen=True)
class LoudnessPlan:
    """Normalise to target_lufs with true peaks under true_peak_dbtp; `measured` makes it a linear second pass."""

    target_lufs: float
    true_peak_dbtp: float
    measured: LoudnessMeasurement | None = None

    @property
    def two_pass(self) -> bool:
        return self.measured is not None

    def filter(self) -> str:
        """The loudnorm filter, then back to 48 kHz (loudnorm works, and outputs, at 192 kHz)."""
        lra = DEFAULT_LRA
        options = f"I={self.target_lufs:g}:TP={self.true_peak_dbtp:g}"
        if self.measured is not None:
            m = self.measured
            lra = min(MAX_LRA, max(DEFAULT_LRA, math.ceil(m.lra) + 1.0))  # keep the source's range: linear gain
            options += (f":measured_I={m.integrated:g}:measured_TP={m.true_peak:g}:measured_LRA={m.lra:g}"
                        f":measured_thresh={m.threshold:g}:offset={m.offset:g}:linear=true")
        return f"loudnorm={options}:LRA={lra:g},aresample=48000"


def meter_filter(log_name: str = LOUDNESS_LOG) -> str:
    """Measures what is encoded: ebur128's running integrated loudness, logged per 100 ms block to a file."""
    return f"ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.I:file={log_name}"


def analysis_command(source: Path, audio_stream: int, plan: LoudnessPlan) -> list[str]:
    """The first pass: decode the audio only and let loudnorm print its measurement as JSON."""
    return ["-y", "-nostats", "-loglevel", "info", *input_args(source), "-map", f"0:{audio_stream}", "-vn",
            "-af", f"loudnorm=I={plan.target_lufs:g}:TP={plan.true_peak_dbtp:g}:print_format=json",
            "-f", "null", "-"]


def parse_analysis(stderr: str) -> LoudnessMeasurement | None:
    """loudnorm's JSON block; None when absent or when the source is silent (no gain can be measured)."""
    match = _JSON_BLOCK.search(stderr)
    if match is None:
        return None
    values: dict[str, Any] = json.loads(match.group(0))
    try:
        measured = LoudnessMeasurement(
            integrated=float(values["input_i"]), true_peak=float(values["input_tp"]),
            lra=float(values["input_lra"]), threshold=float(values["input_thresh"]),
            offset=float(values["target_offset"]),
        )  # fmt: skip
    except (KeyError, ValueError):
        return None
    finite = all(math.isfinite(v) for v in vars(measured).values())
    return measured if finite and measured.integrated > SILENCE_LUFS else None


def analyse(source: Path, audio_stream: int, plan: LoudnessPlan, *, cwd: Path, timeout: float) -> LoudnessPlan:
    """The plan made two-pass when the analysis finishes within `timeout`; the single-pass plan otherwise."""
    if timeout <= 0:
        return plan
    try:
        run = run_ffmpeg(analysis_command(source, audio_stream, plan), cwd=cwd, timeout_seconds=timeout)
    except MediaError:  # over budget: the encode normalises in one (dynamic) pass instead
        return plan
    measured = parse_analysis(run.stderr) if run.returncode == 0 else None
    return LoudnessPlan(plan.target_lufs, plan.true_peak_dbtp, measured) if measured else plan


def read_integrated(log: Path) -> float | None:
    """The last integrated loudness the meter logged (the whole programme's), None for silence or no log."""
    try:
        values = _INTEGRATED.findall(log.read_text(errors="replace"))
    except FileNotFoundError:
        return None
    if not values or float(values[-1]) <= SILENCE_LUFS:
        return None
    return float(values[-1])
