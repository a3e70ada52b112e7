"""Static MP4 (Mux's `mp4_support`): a remux of finished HLS segments, so it costs no extra encode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streamstack.media.hls import parse_media_playlist
from streamstack.media.ladder import RenditionPlan
from streamstack.media.safety import PROTOCOL_WHITELIST, input_args

STATIC_NAMES = {"standard": "high.mp4", "capped-1080p": "capped-1080p.mp4"}
CAPPED_LINES = 1080


def static_mp4_name(mp4_support: str) -> str | None:
    """Fixed file name of the static MP4 for a mode, None when the asset has none."""
    if mp4_support in ("none", "", None):
        return None
    if mp4_support not in STATIC_NAMES:
        raise ValueError(f"unknown mp4_support {mp4_support!r}")
    return STATIC_NAMES[mp4_support]


def pick_static_rendition(renditions: Sequence[RenditionPlan], mp4_support: str) -> RenditionPlan | None:
    """The highest rendition, limited to 1080 lines (short side) for capped-1080p."""
    limit = CAPPED_LINES if mp4_support == "capped-1080p" else None
    fitting = [r for r in renditions if limit is None or min(r.width, r.height) <= limit]
    return max(fitting, key=lambda r: r.width * r.height, default=None)


def join_fragments(out_dir: Path, playlist: str, target: Path) -> Path:
    """Concatenate an fMP4 rendition's init and segments into one fragmented MP4 file."""
    parsed = parse_media_playlist((out_dir / playlist).read_text())
    parts = ([parsed.init_uri] if parsed.init_uri else []) + [s.uri for s in parsed.segments]
    with target.open("wb") as handle:
        for part in parts:
            handle.write((out_dir / part).read_bytes())
    return target


def build_static_mp4_command(video: Path, audio: Path | None, output: str) -> list[str]:
    """Remux (no re-encode) video and optional audio into a progressive MP4 with the index up front."""
    args = ["-y", "-loglevel", "level+warning", *input_args(video)]
    maps = ["-map", "0:v:0"]
    if audio is not None:
        args += input_args(audio)
        maps += ["-map", "1:a:0"]
    return [*args, *maps, "-c", "copy", "-movflags", "+faststart", output]


def build_recording_mp4_command(connections: Sequence[Path], listing: Path, output: str) -> list[str]:
    """Remux a live recording (one fMP4 with audio muxed in per publisher connection, each from its own init
    segment) into one progressive MP4, no re-encode; several connections go through the concat demuxer, whose
    listing (written by the caller, naming only our own files) is `listing`."""
    if len(connections) == 1:
        source = input_args(connections[0])
    else:
        source = ["-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", "concat,mov", "-f", "concat",
                  "-safe", "0", "-i", f"file:{listing}"]  # fmt: skip
    return ["-y", "-loglevel", "level+warning", *source, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
            "-movflags", "+faststart", output]  # fmt: skip


def concat_listing(connections: Sequence[Path]) -> str:
    """The concat demuxer's listing of our own files, in order."""
    return "".join(f"file '{path.as_posix()}'\n" for path in connections)
