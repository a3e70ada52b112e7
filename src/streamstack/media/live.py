"""Plan and build the one ffmpeg of a live session: decode once, N renditions, fMP4 fragments to pipes.

The ladder is planned from the incoming stream (never upscaled) like VOD's, with keyframes forced
every `keyframe_seconds` on the shared timeline so segments line up across renditions. Each
rendition carries its own AAC track (muxed), so one LL-HLS playlist per variant is enough and a
player switches rungs with a single blocking reload. ffmpeg cuts a fragment at every keyframe and
every `part_seconds` (`frag_keyframe` + `frag_duration`); the packager turns fragments into parts.

ffmpeg's mp4 muxer cuts a fragment when ANY track has lasted `frag_duration` in it, so where the audio
started ahead of the video by more than a frame (a publisher's audio before its first keyframe, or an
offset of a few tens of milliseconds on top of AAC's priming) the audio cut parts a frame or more short
of the video's target, and their segment then ended on a part of a frame or two. Both tracks therefore
start at media time 0 (fps `start_time=0` repeats the first picture back to 0; aresample `first_pts=0`
pads the audio with silence or trims it), which fixes the two sample grids against each other: with
AAC's 1024-sample priming as the only lead, the video's frame count reaches the target first at every
standard rate, so every part but a segment's last is a whole part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamstack.media.hls import aac_args, video_codec_args
from streamstack.media.ladder import AudioPlan, LadderRung, RenditionPlan, plan_audio, plan_ladder
from streamstack.media.live_packager import PackagingPlan, part_target_for
from streamstack.media.probe import Probe

# A live default: 720p30 in gives three rungs; 240p adds encode cost for little audience value live.
LIVE_LADDER: tuple[LadderRung, ...] = (
    LadderRung("1080p", 1080, 6000),
    LadderRung("720p", 720, 3000),
    LadderRung("480p", 480, 1200),
    LadderRung("360p", 360, 730),
)
FRAGMENT_FLAGS = "frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets+delay_moov"
INGEST_PROTOCOLS = {"rtmp": "rtmp,tcp", "srt": "srt,udp"}
INGEST_FORMATS = {"rtmp": "flv,live_flv", "srt": "mpegts"}
# How much media ffmpeg reads before it starts: every wait here is time to first playable. RTMP
# publishers (and the relay's FLV) send their codec headers first, so a tenth of a second finds both
# streams; MPEG-TS over SRT declares its streams but needs packets to know their parameters. Never
# `-fflags +nobuffer`: it drops the packets read while analysing, the first keyframe among them, so
# the encoder waited a GOP for the next one and a connection lost its last seconds.
ANALYZE_MICROSECONDS = {"rtmp": "100000", "srt": "400000", "relayed": "100000"}


@dataclass(frozen=True)
class LiveEncodePlan:
    """What one live session encodes: the renditions, the audio and the part/segment timing."""

    renditions: tuple[RenditionPlan, ...]
    audio: AudioPlan | None
    packaging: PackagingPlan
    preset: str
    low_latency: bool


def plan_live(probe: Probe, settings: Any, *, low_latency: bool = True) -> LiveEncodePlan:
    """The live ladder for an incoming stream; a stream without video is refused by the caller."""
    ladder = settings.live_ladder or LIVE_LADDER
    renditions = tuple(plan_ladder(probe, settings, ladder=ladder))
    rate = float(renditions[0].frame_rate) if renditions else 30.0
    packaging = PackagingPlan(
        part_target=part_target_for(rate, settings.live_part_seconds),
        segment_target=settings.keyframe_seconds,
        window_seconds=float(settings.live_dvr_window),
    )
    return LiveEncodePlan(renditions, plan_audio(probe), packaging, settings.live_x264_preset, low_latency)


def live_input_args(url: str, protocol: str) -> list[str]:
    """Open the ingest URL with only its own protocol and container allowed, probing as little as it can."""
    return [
        "-protocol_whitelist", INGEST_PROTOCOLS[protocol],
        "-format_whitelist", INGEST_FORMATS[protocol],
        "-probesize", "200000", "-analyzeduration", ANALYZE_MICROSECONDS[protocol],
        "-i", url,
    ]  # fmt: skip


def relay_command(url: str, protocol: str, *, max_seconds: float | None = None) -> list[str]:
    """One connection to the ingest, remuxed (no decode) to FLV on stdout: probed from its first bytes, then
    fed to the encoder, so the stream is joined at a keyframe once, not once to probe and once to encode."""
    limit = ["-t", f"{max(1.0, max_seconds):.0f}"] if max_seconds is not None else []
    return ["-loglevel", "error", *limit, *live_input_args(url, protocol), "-map", "0:v:0", "-map", "0:a:0?",
            "-c", "copy", "-f", "flv", "pipe:1"]  # fmt: skip


def srt_listener_url(port: int, passphrase: str, *, wait_seconds: float) -> str:
    """ffmpeg's libsrt listener on a loopback port, for one admitted caller (libsrt times are microseconds).

    It refuses a caller without the passphrase, gives up when no caller arrives in `wait_seconds`, and
    ends when the caller has sent nothing for 5 s (its input then ends like a closed RTMP stream)."""
    micros = round(wait_seconds * 1_000_000)
    return (f"srt://127.0.0.1:{port}?mode=listener&passphrase={passphrase}&listen_timeout={micros}"
            f"&enforced_encryption=1&timeout=5000000&transtype=live")


RELAYED_INPUT = ["-protocol_whitelist", "pipe", "-format_whitelist", "flv,live_flv", "-probesize", "200000",
                 "-analyzeduration", ANALYZE_MICROSECONDS["relayed"],
                 "-f", "flv", "-i", "pipe:0"]  # fmt: skip


def build_live_command(
    input_args: Sequence[str], probe: Probe, plan: LiveEncodePlan, fds: Sequence[int]
) -> list[str]:
    """ffmpeg arguments (without the executable): one muxed fMP4 output per rendition, on pipe fds."""
    if len(fds) != len(plan.renditions):
        raise ValueError("one pipe per rendition")
    args = ["-loglevel", "level+warning", *input_args]
    rate = plan.renditions[0].frame_rate
    branches = "".join(f"[s{i}]" for i in range(len(plan.renditions)))
    fps = f"fps={rate.numerator}/{rate.denominator}:start_time=0"  # starts with the audio (module docstring)
    chains = [f"[0:{probe.video_stream}]{fps},split={len(plan.renditions)}{branches}"]
    chains += [
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(plan.renditions)
    ]
    args += ["-filter_complex", ";".join(chains)]
    for index, (rendition, fd) in enumerate(zip(plan.renditions, fds, strict=True)):
        args += ["-map", f"[v{index}]", *_video_args(rendition, plan)]
        if plan.audio is not None and probe.audio_stream is not None:
            args += ["-map", f"0:{probe.audio_stream}", *_audio_args(plan.audio)]
        args += [
            "-f", "mp4", "-movflags", FRAGMENT_FLAGS,
            "-frag_duration", str(round(plan.packaging.part_target * 1_000_000) - 1000),
            f"pipe:{fd}",
        ]  # fmt: skip
    return args


def _video_args(plan: RenditionPlan, live: LiveEncodePlan) -> list[str]:
    tune = ["-tune", "zerolatency"] if live.low_latency else []
    return video_codec_args(plan, preset=live.preset, keyframe_seconds=live.packaging.segment_target, tune=tune)


def _audio_args(audio: AudioPlan) -> list[str]:
    return aac_args(audio, ["aresample=async=1:first_pts=0"])  # starts with the video (module docstring)
