"""The single ffmpeg command of an encode, its progress, and the HLS playlists we publish.

One process decodes the source once; `fps` makes it constant-rate, `split` fans it out to one
`scale` + libx264 per rendition, plus a poster and a storyboard branch. Keyframes are forced every
keyframe_seconds on the shared timeline with `-sc_threshold 0` and closed GOPs, so segment
boundaries are identical across renditions. Each rendition (and the audio) is its own HLS fMP4
output written as an EVENT playlist that grows segment by segment; the master playlist is ours.

Time to playable: we publish those growing EVENT playlists and a master as soon as every rendition
has its first segment, and close them as VOD at the end. All renditions advance together, so the
asset is playable (from 0:00, `#EXT-X-START:TIME-OFFSET=0`) after roughly one segment's worth of
encoding. Publishing the lowest rendition first would need a second decode of the source, and its
playable time is a whole 240p encode (see docs/media.md and bench/ladder.py for the measurements).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamstack.media.images import ImagesPlan, image_filters, image_outputs
from streamstack.media.ladder import AudioPlan, RenditionPlan
from streamstack.media.loudness import meter_filter
from streamstack.media.probe import Probe
from streamstack.media.safety import input_args

AUDIO_NAME = "audio"
AUDIO_GROUP = "audio"
START_TAG = "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES"
PROGRESS_ARGS = ["-progress", "pipe:1", "-stats_period", "0.5", "-nostats"]


@dataclass(frozen=True)
class RenditionFiles:
    """Fixed file names of one HLS rendition, so a re-run overwrites instead of duplicating."""

    name: str

    @property
    def playlist(self) -> str:
        return f"{self.name}.m3u8"

    @property
    def init(self) -> str:
        return f"{self.name}_init.mp4"

    @property
    def segment_pattern(self) -> str:
        return f"{self.name}_%05d.m4s"


def build_encode_command(
    source: Path,
    probe: Probe,
    renditions: Sequence[RenditionPlan],
    audio: AudioPlan | None,
    settings: Any,
    *,
    images: ImagesPlan | None = None,
    progress: bool = True,
) -> list[str]:
    """ffmpeg arguments (without the executable) for the whole ladder, images and audio in one process."""
    args = ["-y", "-loglevel", "level+warning", *(PROGRESS_ARGS if progress else []), *input_args(source)]
    if renditions:
        args += ["-filter_complex", video_filter_graph(probe, renditions, images)]
        for index, plan in enumerate(renditions):
            video = video_codec_args(plan, preset=settings.x264_preset, keyframe_seconds=settings.keyframe_seconds)
            args += ["-map", f"[v{index}]", *video, "-an", "-sn", "-dn"]
            args += hls_output_args(RenditionFiles(plan.name), settings)
        if images is not None:
            args += image_outputs()
    if audio is not None:
        args += ["-map", f"0:{probe.audio_stream}", *audio_codec_args(audio), "-vn", "-sn", "-dn"]
        args += hls_output_args(RenditionFiles(AUDIO_NAME), settings)
    return args


def video_filter_graph(probe: Probe, renditions: Sequence[RenditionPlan], images: ImagesPlan | None) -> str:
    """Decode once, deinterlace if needed, make the rate constant, split to renditions and image branches."""
    rate = renditions[0].frame_rate
    branches = [f"s{i}" for i in range(len(renditions))] + (["poster_in", "sprite_in"] if images else [])
    deinterlace = "bwdif=mode=send_field:deint=interlaced," if probe.interlaced else ""
    chains = [f"[0:{probe.video_stream}]{deinterlace}fps={rate.numerator}/{rate.denominator},"
              f"split={len(branches)}" + "".join(f"[{b}]" for b in branches)]  # fmt: skip
    for index, plan in enumerate(renditions):
        chains.append(
            f"[s{index}]scale={plan.width}:{plan.height}:flags=bicubic,setsar=1,format=yuv420p[v{index}]"
        )
    if images is not None:
        chains += image_filters(images, "poster_in", "sprite_in")
    return ";".join(chains)


def video_codec_args(
    plan: RenditionPlan, *, preset: str, keyframe_seconds: float, tune: Sequence[str] = ()
) -> list[str]:
    """libx264, capped VBR, closed GOP of keyframe_seconds aligned on the shared timeline (VOD and live alike)."""
    return [
        "-c:v", "libx264", "-preset", preset, *tune,
        "-profile:v", plan.profile, "-level:v", plan.level,
        "-b:v", str(plan.bitrate), "-maxrate", str(plan.maxrate), "-bufsize", str(plan.bufsize),
        "-g", str(plan.gop_frames), "-keyint_min", str(plan.gop_frames),
        "-sc_threshold", "0", "-flags", "+cgop",
        "-force_key_frames", f"expr:gte(t,n_forced*{keyframe_seconds:g})",
    ]  # fmt: skip


def audio_codec_args(audio: AudioPlan) -> list[str]:
    """AAC-LC stereo, resampled so a gap or drift in the source does not shift later audio; loudness
    normalised when planned, and always metered (ebur128) as encoded."""
    chain = ["aresample=async=1:first_pts=0"]
    if audio.loudness is not None:
        chain.append(audio.loudness.filter())
    chain.append(meter_filter())
    return aac_args(audio, chain)


def aac_args(audio: AudioPlan, filters: Sequence[str]) -> list[str]:
    """The AAC encoder settings every audio output shares, after the given filter chain."""
    return [
        "-c:a", "aac", "-b:a", str(audio.bitrate), "-ac", str(audio.channels), "-ar", str(audio.sample_rate),
        "-af", ",".join(filters),
    ]  # fmt: skip


def hls_output_args(files: RenditionFiles, settings: Any) -> list[str]:
    """An fMP4 HLS output whose EVENT playlist grows as segments complete (temp files, then rename)."""
    return [
        "-f", "hls", "-hls_time", f"{settings.segment_seconds:g}", "-hls_segment_type", "fmp4",
        "-hls_playlist_type", "event", "-hls_list_size", "0",
        "-hls_flags", "independent_segments+temp_file",
        # Negative composition offsets (trun v1) put the first B-frame-delayed picture at PTS 0: players
        # that ignore edit lists (MSE) would otherwise see video start 2 frames after the audio.
        "-hls_segment_options", "movflags=+negative_cts_offsets",
        "-hls_fmp4_init_filename", files.init, "-hls_segment_filename", files.segment_pattern,
        files.playlist,
    ]  # fmt: skip


def progress_percent(block: dict[str, str], duration: float) -> float | None:
    """0-100 from one `-progress` report (out_time_us against the source duration)."""
    if block.get("progress") == "end":
        return 100.0
    raw = block.get("out_time_us") or block.get("out_time_ms")
    if not raw or not raw.lstrip("-").isdigit() or duration <= 0:
        return None
    return max(0.0, min(100.0, int(raw) / 1e6 / duration * 100))


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float


@dataclass(frozen=True)
class MediaPlaylist:
    """The parts of an ffmpeg-written media playlist that publishing needs."""

    init_uri: str | None
    segments: tuple[Segment, ...]
    ended: bool


_EXTINF_RE = re.compile(r"#EXTINF:([\d.]+)")
_MAP_RE = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Segments (uri, duration) in order, the init segment and whether #EXT-X-ENDLIST is present."""
    segments: list[Segment] = []
    pending: float | None = None
    init = None
    for line in text.splitlines():
        line = line.strip()
        if match := _MAP_RE.match(line):
            init = match.group(1)
        elif match := _EXTINF_RE.match(line):
            pending = float(match.group(1))
        elif line and not line.startswith("#") and pending is not None:
            segments.append(Segment(line, pending))
            pending = None
    return MediaPlaylist(init, tuple(segments), "#EXT-X-ENDLIST" in text)


def published_playlist(text: str) -> str:
    """A growing EVENT playlist as players get it: told to start at 0:00, not at the live edge."""
    if START_TAG in text:
        return text
    return text.replace("#EXTM3U\n", f"#EXTM3U\n{START_TAG}\n", 1)


def vod_playlist(text: str) -> str:
    """Close a finished EVENT playlist as VOD."""
    text = published_playlist(text).replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD")
    if "#EXT-X-PLAYLIST-TYPE:" not in text:
        text = text.replace("#EXTM3U\n", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n", 1)
    return text if "#EXT-X-ENDLIST" in text else text.rstrip("\n") + "\n#EXT-X-ENDLIST\n"


@dataclass(frozen=True)
class Variant:
    """One video rendition as the master playlist lists it (bandwidths include the audio)."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: str
    width: int
    height: int
    frame_rate: float


@dataclass(frozen=True)
class AudioRendition:
    uri: str
    codecs: str
    channels: int
    bandwidth: int
    average_bandwidth: int


def master_playlist(variants: Sequence[Variant], audio: AudioRendition | None) -> str:
    """Our master playlist: one STREAM-INF per video rendition sharing one AUDIO group."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS", START_TAG]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Default",LANGUAGE="und",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="{audio.channels}",URI="{audio.uri}"'
        )
    for v in sorted(variants, key=lambda v: v.bandwidth, reverse=True):
        codecs = f"{v.codecs},{audio.codecs}" if audio else v.codecs
        attrs = (
            f'BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},CODECS="{codecs}",'
            f"RESOLUTION={v.width}x{v.height},FRAME-RATE={v.frame_rate:.3f}"
        )
        if audio is not None:
            attrs += f',AUDIO="{AUDIO_GROUP}"'
        lines += [f"#EXT-X-STREAM-INF:{attrs}", v.uri]
    if not variants and audio is not None:  # audio-only asset
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={audio.bandwidth},AVERAGE-BANDWIDTH={audio.average_bandwidth},"
            f'CODECS="{audio.codecs}"',
            audio.uri,
        ]
    return "\n".join(lines) + "\n"


def codecs_from_init(path: Path) -> str | None:
    """The exact avc1.PPCCLL string from an init segment's avcC box (what the encoder really wrote)."""
    data = path.read_bytes()
    at = data.find(b"avcC")
    if at < 0 or len(data) < at + 8:
        return None
    profile, compat, level = data[at + 5], data[at + 6], data[at + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"
