"""The content-aware ladder decision (pure): from probe measurements to per-rung bitrates and dropped rungs.

Input: the fixed ladder planned for the source, and for each rung two constant-quality probe encodes of
sampled scenes (bitrate, VMAF at the rung's own size) plus the VMAF the rung below reaches when shown at
this rung's size. Per rung, VMAF is modelled as linear in log(bitrate) between the two probes; the
rung gets the bitrate that reaches the target VMAF, never more than the fixed ladder gives it (so hard
content keeps the fixed ladder's quality) and never less than MIN_VIDEO_BITRATE. A rung (other than the
top one, which keeps the source's resolution) is dropped when it adds less than `min_gain` VMAF over the
kept rung below shown at its size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from streamstack.media.ladder import (
    BUFSIZE_FACTOR,
    MAXRATE_FACTOR,
    MIN_VIDEO_BITRATE,
    RenditionPlan,
    avc1_codecs,
    h264_level,
)

PROBE_CRFS = (20, 30)  # bracket the usual 93-98 VMAF targets for x264 on most content
_VMAF_SLOPE_FLOOR = 0.5  # VMAF points per ln(bitrate): flatter means the probes saturated


@dataclass(frozen=True)
class ProbePoint:
    """One constant-quality probe encode of the sampled scenes at a rung's size."""

    crf: int
    bitrate: int
    vmaf: float


@dataclass(frozen=True)
class RungMeasurement:
    """A rung's two probes, and the VMAF the rung below reaches upscaled to this rung's size (None: lowest)."""

    name: str
    probes: tuple[ProbePoint, ProbePoint]
    below_vmaf: float | None = None


@dataclass(frozen=True)
class RungDecision:
    name: str
    fixed_bitrate: int
    bitrate: int
    predicted_vmaf: float
    kept: bool
    reason: str


@dataclass(frozen=True)
class AutoLadder:
    renditions: list[RenditionPlan]
    decisions: list[RungDecision]


def bitrate_for_vmaf(probes: Sequence[ProbePoint], target: float) -> int:
    """Bitrate at which the log-linear VMAF model through the two probes reaches `target`."""
    low, high, slope = _model(probes)
    if slope < _VMAF_SLOPE_FLOOR:  # saturated: the cheaper probe is already as good as it gets
        return low.bitrate if low.vmaf >= target else high.bitrate
    return round(math.exp(math.log(low.bitrate) + (target - low.vmaf) / slope))


def vmaf_at(probes: Sequence[ProbePoint], bitrate: int) -> float:
    """The model's VMAF at `bitrate` (clamped to 100), for reporting and the gain rule."""
    low, _high, slope = _model(probes)
    return min(100.0, low.vmaf + slope * math.log(max(1, bitrate) / max(1, low.bitrate)))


def _model(probes: Sequence[ProbePoint]) -> tuple[ProbePoint, ProbePoint, float]:
    """The cheaper probe, the dearer one, and VMAF points per unit of ln(bitrate) between them."""
    low, high = sorted(probes, key=lambda p: p.bitrate)
    return low, high, (high.vmaf - low.vmaf) / max(1e-9, math.log(high.bitrate / max(1, low.bitrate)))


def plan_auto_ladder(fixed: Sequence[RenditionPlan], measured: Mapping[str, RungMeasurement], *,
                     target_vmaf: float, min_gain: float) -> AutoLadder:
    """The fixed ladder re-priced per rung, minus rungs that add too little; tallest first like the input."""
    decisions: list[RungDecision] = []
    kept_below: float | None = None
    ascending = sorted(fixed, key=lambda p: p.width * p.height)
    for index, plan in enumerate(ascending):
        rung = measured[plan.name]
        bitrate = max(MIN_VIDEO_BITRATE, min(plan.bitrate, bitrate_for_vmaf(rung.probes, target_vmaf)))
        predicted = vmaf_at(rung.probes, bitrate)
        is_top = index == len(ascending) - 1
        gain = None if rung.below_vmaf is None or kept_below is None else predicted - rung.below_vmaf
        keep = is_top or gain is None or gain >= min_gain
        reason = ("top rung: the source's resolution" if is_top else "lowest rung" if gain is None
                  else f"adds {gain:.1f} VMAF over the rung below")
        decisions.append(RungDecision(plan.name, plan.bitrate, bitrate, round(predicted, 2), keep, reason))
        if keep:
            kept_below = predicted
    by_name = {d.name: d for d in decisions}
    renditions = [_repriced(plan, by_name[plan.name].bitrate) for plan in fixed if by_name[plan.name].kept]
    return AutoLadder(renditions, [by_name[plan.name] for plan in fixed])


def _repriced(plan: RenditionPlan, bitrate: int) -> RenditionPlan:
    maxrate = int(bitrate * MAXRATE_FACTOR)
    level = h264_level(plan.width, plan.height, float(plan.frame_rate), maxrate)
    return replace(plan, bitrate=bitrate, maxrate=maxrate, bufsize=int(bitrate * BUFSIZE_FACTOR), level=level,
                   codecs=avc1_codecs(plan.profile, level))

