"""One encode job: source object in, HLS ladder + images (+ static MP4) under `assets/{id}/` out.

Every output has a fixed key, so a redelivered job overwrites the same objects; keys under the
prefix that this run did not produce are deleted at the end, and all of them are removed when the
job fails, so neither a retry nor a failure leaves orphans. Segments are uploaded while ffmpeg runs
(growing EVENT playlists), which makes the asset playable long before the ladder is finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from streamstack.media.autoladder import RungDecision
from streamstack.media.complexity import analyse_ladder
from streamstack.media.errors import MediaError
from streamstack.media.hls import (
    AUDIO_NAME,
    AudioRendition,
    RenditionFiles,
    Variant,
    build_encode_command,
    codecs_from_init,
    master_playlist,
    parse_media_playlist,
    progress_percent,
    published_playlist,
    vod_playlist,
)
from streamstack.media.images import (
    STORYBOARD_IMAGE_NAME,
    STORYBOARD_VTT_NAME,
    THUMBNAIL_NAME,
    ImagesPlan,
    plan_images,
    storyboard_vtt,
)
from streamstack.media.ladder import AudioPlan, RenditionPlan, plan_audio, plan_ladder
from streamstack.media.loudness import LOUDNESS_LOG, LoudnessPlan, analyse, read_integrated
from streamstack.media.mp4 import (
    build_static_mp4_command,
    join_fragments,
    pick_static_rendition,
    static_mp4_name,
)
from streamstack.media.options import EncodeOptions
from streamstack.media.probe import Probe, check_source_limits, probe
from streamstack.media.safety import (
    JOB_DIR_PREFIX,
    job_directory,
    run_ffmpeg,
    stderr_reason,
    sweep_orphaned_job_dirs,
)
from streamstack.storage.base import ObjectNotFound, ObjectStore
from streamstack.storage.keys import LOUDNESS_NAME, MASTER_NAME, asset_prefix

log = logging.getLogger("streamstack.media.pipeline")

ENCODE_PROGRESS_SHARE = 95.0  # the rest is remuxing and the final uploads
TRUNCATION_TOLERANCE_SECONDS = 0.5
ENCODE_DIR_PREFIX = JOB_DIR_PREFIX + "encode-"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


@dataclass(frozen=True)
class RenditionResult:
    name: str
    width: int
    height: int
    frame_rate: float
    bitrate: int
    average_bitrate: int
    codecs: str
    playlist_key: str
    size_bytes: int


@dataclass(frozen=True)
class AudioResult:
    codecs: str
    channels: int
    sample_rate: int
    bitrate: int
    average_bitrate: int
    playlist_key: str
    size_bytes: int


@dataclass(frozen=True)
class ImagesResult:
    thumbnail_key: str | None
    storyboard_image_key: str | None
    storyboard_vtt_key: str | None

    @property
    def storyboard_keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.storyboard_image_key, self.storyboard_vtt_key) if k)


@dataclass(frozen=True)
class EncodeResult:
    """Everything the metadata processor stores about a finished asset."""

    asset_id: str
    master_key: str
    duration: float
    source: Probe
    renditions: tuple[RenditionResult, ...]
    audio: AudioResult | None
    images: ImagesResult | None
    static_mp4_key: str | None
    static_mp4_size: int | None
    playable_seconds: float | None
    encode_seconds: float
    loudness: LoudnessResult | None = None
    ladder: LadderReport | None = None
    output_keys: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class LoudnessResult:
    """Integrated loudness of the audio rendition as encoded; the source's when a two-pass analysis ran."""

    integrated_lufs: float | None
    source_integrated_lufs: float | None
    target_lufs: float | None
    method: str  # "none", "linear" (two-pass) or "dynamic" (single pass)


@dataclass(frozen=True)
class LadderReport:
    """How the ladder was chosen and what the auto analysis cost (compare with encode_seconds)."""

    mode: str
    note: str
    analysis_seconds: float
    predicted_encode_seconds: float
    rungs: tuple[RungDecision, ...]


@dataclass
class _Job:
    """The inputs and running state of one encode, passed between its steps."""

    store: ObjectStore
    asset_id: str
    source_key: str
    settings: Any
    on_progress: Callable[[float], None]
    on_playable: Callable[[], None]
    options: EncodeOptions
    deadline: float
    published: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return asset_prefix(self.asset_id)


def encode_asset(
    *,
    store: ObjectStore,
    asset_id: str,
    source_key: str,
    settings: Any,
    on_progress: Callable[[float], None],
    on_playable: Callable[[], None],
    options: EncodeOptions = EncodeOptions(),
) -> EncodeResult:
    """Download, probe, plan, encode once, publish as it goes; raise MediaError for bad input."""
    static_mp4_name(options.mp4_support)  # reject an unknown mode before any work
    sweep_orphaned_job_dirs()
    deadline = time.monotonic() + settings.job_timeout_seconds
    job = _Job(store, asset_id, source_key, settings, on_progress, on_playable, options, deadline)
    try:
        with job_directory(prefix=ENCODE_DIR_PREFIX) as workdir:
            return _encode_in(workdir, job)
    except BaseException:
        _delete_outputs(store, job.prefix, keep={source_key})
        raise


def _encode_in(workdir: Path, job: _Job) -> EncodeResult:
    started = time.monotonic()
    source = download_source(job.store, job.source_key, workdir / "source", job.settings)
    info = probe(source)
    check_source_limits(info, job.settings)
    renditions, ladder_report = _plan_renditions(source, info, workdir, job)
    audio = _plan_loudness(plan_audio(info), source, info, workdir, job)
    images = plan_images(info.duration, renditions[0], job.settings) if renditions else None
    out = workdir / "out"
    out.mkdir()
    publisher = HlsPublisher(job.store, job.prefix, out, renditions, audio, job.on_playable, job.published)
    run = run_ffmpeg(
        build_encode_command(source, info, renditions, audio, job.settings, images=images),
        cwd=out,
        timeout_seconds=_remaining(job.deadline),
        max_output_bytes=job.settings.job_max_output_bytes,
        on_progress=_ProgressReporter(job.on_progress, info.duration),
        on_tick=publisher.poll,
    )
    if run.returncode != 0:
        reason = stderr_reason(run.stderr).replace(f"{workdir}/", "")  # no server paths in user messages
        raise MediaError("encode_failed", f"The video could not be encoded ({reason}).")
    _check_complete(publisher.longest_duration(), info.duration)
    rendition_results, audio_result = publisher.finish()
    image_result = _publish_images(job, out, images, info.duration)
    static_key, static_size = _publish_static_mp4(job, out, renditions, audio)
    loudness = _publish_loudness(job, out, audio)
    _delete_stale(job.store, job.prefix, keep=job.published | {job.source_key})
    job.on_progress(100.0)
    return EncodeResult(
        asset_id=job.asset_id,
        master_key=job.prefix + MASTER_NAME,
        duration=round(publisher.encoded_duration(), 3),
        source=info,
        renditions=rendition_results,
        audio=audio_result,
        images=image_result,
        static_mp4_key=static_key,
        static_mp4_size=static_size,
        playable_seconds=None if publisher.playable_at is None else publisher.playable_at - started,
        encode_seconds=time.monotonic() - started,
        loudness=loudness,
        ladder=ladder_report,
        output_keys=tuple(sorted(job.published)),
    )


def _plan_renditions(source: Path, info: Probe, workdir: Path, job: _Job) -> tuple[list[RenditionPlan],
                                                                                   LadderReport]:
    """The fixed ladder, or the content-aware one when the asset asks for `auto` and the analysis succeeds."""
    fixed = plan_ladder(info, job.settings)
    if job.options.ladder != "auto" or not fixed:
        return fixed, LadderReport(job.options.ladder, "fixed ladder", 0.0, 0.0, ())
    analysis = analyse_ladder(source, info, fixed, job.settings, workdir=workdir, timeout=_remaining(job.deadline))
    chosen = analysis.ladder.renditions if analysis.ladder else fixed
    rungs = tuple(analysis.ladder.decisions) if analysis.ladder else ()
    report = LadderReport("auto", analysis.note, round(analysis.seconds, 3),
                          round(analysis.predicted_encode_seconds, 3), rungs)
    log.info("ladder planned", extra={"asset_id": job.asset_id, "note": analysis.note,
                                      "analysis_seconds": report.analysis_seconds,
                                      "predicted_encode_seconds": report.predicted_encode_seconds,
                                      "renditions": [f"{p.name}@{p.bitrate // 1000}k" for p in chosen]})
    return chosen, report


def _plan_loudness(audio: AudioPlan | None, source: Path, info: Probe, workdir: Path, job: _Job) -> AudioPlan | None:
    """EBU R128 normalisation when asked: two-pass if the analysis fits its budget, else single-pass."""
    if audio is None or not job.options.normalize_audio or info.audio_stream is None:
        return audio
    plan = LoudnessPlan(job.settings.loudness_target_lufs, job.settings.loudness_true_peak_dbtp)
    budget = min(job.settings.loudness_analysis_seconds, _remaining(job.deadline))
    return replace(audio, loudness=analyse(source, info.audio_stream, plan, cwd=workdir, timeout=budget))


def _publish_loudness(job: _Job, out: Path, audio: AudioPlan | None) -> LoudnessResult | None:
    """What the meter measured, stored as `loudness.json` so the metadata processor reads it like any output."""
    if audio is None:
        return None
    plan = audio.loudness
    measured = plan.measured if plan else None
    result = LoudnessResult(
        integrated_lufs=read_integrated(out / LOUDNESS_LOG),
        source_integrated_lufs=measured.integrated if measured else None,
        target_lufs=plan.target_lufs if plan else None,
        method="none" if plan is None else ("linear" if plan.two_pass else "dynamic"),
    )
    key = job.prefix + LOUDNESS_NAME
    job.store.put(key, [json.dumps(asdict(result)).encode()], content_type="application/json")
    job.published.add(key)
    return result


def download_source(store: ObjectStore, source_key: str, target: Path, settings: Any) -> Path:
    """Stream the source object into the job directory, refusing more than max_upload_bytes."""
    limit = getattr(settings, "max_upload_bytes", None)
    written = 0
    try:
        with target.open("wb") as handle:
            for chunk in store.get(source_key):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise MediaError(
                        "source_too_large", f"The source is larger than the limit of {limit} bytes."
                    )
                handle.write(chunk)
    except ObjectNotFound as exc:
        raise MediaError("source_missing", "The uploaded source file could not be found.") from exc
    return target


class _ProgressReporter:
    """Map ffmpeg's out_time to 0-95 % and report only whole-percent steps."""

    def __init__(self, on_progress: Callable[[float], None], duration: float) -> None:
        self.on_progress = on_progress
        self.duration = duration
        self.last = -1.0

    def __call__(self, block: dict[str, str]) -> None:
        percent = progress_percent(block, self.duration)
        if percent is None:
            return
        value = round(percent * ENCODE_PROGRESS_SHARE / 100, 1)
        if value >= self.last + 1 or (value > self.last and percent >= 100):
            self.last = value
            self.on_progress(value)


class HlsPublisher:
    """Uploads each completed segment, then the playlist listing it; the master once all have begun."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        out: Path,
        renditions: Sequence[RenditionPlan],
        audio: AudioPlan | None,
        on_playable: Callable[[], None],
        published: set[str],
    ) -> None:
        self.store, self.prefix, self.out = store, prefix, out
        self.renditions, self.audio = list(renditions), audio
        self.names = [r.name for r in renditions] + ([AUDIO_NAME] if audio else [])
        self.on_playable = on_playable
        self.published = published
        self.seen: dict[str, str] = {}
        self.playable_at: float | None = None

    def poll(self) -> None:
        """Publish whatever ffmpeg finished since the last look (segments before the playlists)."""
        for name in self.names:
            self._publish_rendition(name, published_playlist)
        if self.playable_at is None and all(
            name in self.seen and parse_media_playlist(self.seen[name]).segments for name in self.names
        ):
            self._put_text(MASTER_NAME, master_playlist(*self._master_entries(final=False)))
            self.playable_at = time.monotonic()
            self.on_playable()

    def finish(self) -> tuple[tuple[RenditionResult, ...], AudioResult | None]:
        """Close every playlist as VOD and write the master with measured bandwidths."""
        self.poll()
        for name in self.names:
            self._publish_rendition(name, vod_playlist, force=True)
        variants, audio = self._master_entries(final=True)
        self._put_text(MASTER_NAME, master_playlist(variants, audio))
        results = tuple(
            RenditionResult(
                name=plan.name,
                width=plan.width,
                height=plan.height,
                frame_rate=round(float(plan.frame_rate), 3),
                bitrate=self._peak(plan.name),
                average_bitrate=self._average(plan.name),
                codecs=self._codecs(plan),
                playlist_key=self.prefix + RenditionFiles(plan.name).playlist,
                size_bytes=self._size(plan.name),
            )  # fmt: skip
            for plan in self.renditions
        )
        return results, self._audio_result()

    def encoded_duration(self, name: str | None = None) -> float:
        """Seconds written to one playlist (default: the first video rendition, else the audio)."""
        text = self._read_playlist(name or self.names[0]) if self.names else None
        return sum(s.duration for s in parse_media_playlist(text).segments) if text else 0.0

    def longest_duration(self) -> float:
        """Seconds of the longest stream written, so audio running past short video is not 'truncated'."""
        return max((self.encoded_duration(name) for name in self.names), default=0.0)

    def _publish_rendition(self, name: str, render: Callable[[str], str], force: bool = False) -> None:
        text = self._read_playlist(name)
        if text is None or (text == self.seen.get(name) and not force):
            return
        parsed = parse_media_playlist(text)
        for uri in ([parsed.init_uri] if parsed.init_uri else []) + [s.uri for s in parsed.segments]:
            if self.prefix + uri not in self.published:
                self._put_file(uri)
        self._put_text(RenditionFiles(name).playlist, render(text))
        self.seen[name] = text

    def _read_playlist(self, name: str) -> str | None:
        try:
            return (self.out / RenditionFiles(name).playlist).read_text()
        except FileNotFoundError:
            return None

    def _master_entries(self, *, final: bool) -> tuple[list[Variant], AudioRendition | None]:
        audio = None
        if self.audio is not None:
            peak = self._peak(AUDIO_NAME) if final else self.audio.bitrate
            average = self._average(AUDIO_NAME) if final else self.audio.bitrate
            uri = RenditionFiles(AUDIO_NAME).playlist
            audio = AudioRendition(uri, self.audio.codecs, self.audio.channels, peak, average)
        extra_peak = audio.bandwidth if audio else 0
        extra_avg = audio.average_bandwidth if audio else 0
        variants = [
            Variant(
                uri=RenditionFiles(plan.name).playlist,
                bandwidth=(self._peak(plan.name) if final else plan.bandwidth) + extra_peak,
                average_bandwidth=(self._average(plan.name) if final else plan.bitrate) + extra_avg,
                codecs=self._codecs(plan),
                width=plan.width,
                height=plan.height,
                frame_rate=float(plan.frame_rate),
            )  # fmt: skip
            for plan in self.renditions
        ]
        return variants, audio

    def _segments(self, name: str) -> list[tuple[int, float]]:
        text = self.seen.get(name) or self._read_playlist(name) or ""
        return [((self.out / s.uri).stat().st_size, s.duration) for s in parse_media_playlist(text).segments]

    def _peak(self, name: str) -> int:
        """Peak segment bitrate (Apple's BANDWIDTH), ignoring sub-second tail segments when possible."""
        segments = self._segments(name)
        full = [s for s in segments if s[1] >= 1.0] or segments
        return max((round(size * 8 / dur) for size, dur in full if dur > 0), default=0)

    def _average(self, name: str) -> int:
        segments = self._segments(name)
        seconds = sum(dur for _, dur in segments)
        return round(sum(size for size, _ in segments) * 8 / seconds) if seconds > 0 else 0

    def _size(self, name: str) -> int:
        files = RenditionFiles(name)
        init = self.out / files.init
        return sum(size for size, _ in self._segments(name)) + (init.stat().st_size if init.exists() else 0)

    def _codecs(self, plan: RenditionPlan) -> str:
        init = self.out / RenditionFiles(plan.name).init
        return (codecs_from_init(init) if init.exists() else None) or plan.codecs

    def _audio_result(self) -> AudioResult | None:
        if self.audio is None:
            return None
        return AudioResult(
            codecs=self.audio.codecs, channels=self.audio.channels, sample_rate=self.audio.sample_rate,
            bitrate=self._peak(AUDIO_NAME), average_bitrate=self._average(AUDIO_NAME),
            playlist_key=self.prefix + RenditionFiles(AUDIO_NAME).playlist, size_bytes=self._size(AUDIO_NAME),
        )  # fmt: skip

    def _put_file(self, name: str) -> None:
        _put_file(self.store, self.prefix + name, self.out / name, self.published)

    def _put_text(self, name: str, text: str) -> None:
        key = self.prefix + name
        self.store.put(key, [text.encode()], content_type=_content_type(name))
        self.published.add(key)


def _put_file(store: ObjectStore, key: str, path: Path, published: set[str]) -> None:
    store.put_file(key, path, content_type=_content_type(path.name))
    published.add(key)


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


def _check_complete(encoded: float, declared: float) -> None:
    """A file whose data stops well before its declared duration is an incomplete upload."""
    if declared - encoded > max(TRUNCATION_TOLERANCE_SECONDS, 0.1 * declared):
        raise MediaError(
            "truncated_file",
            f"The file's media stops at {encoded:.1f} s although it declares {declared:.1f} s; "
            "the upload is probably incomplete.",
        )


def _publish_images(job: _Job, out: Path, plan: ImagesPlan | None, duration: float) -> ImagesResult | None:
    """Upload poster and sprite made by the encode, plus the WebVTT written here."""
    if plan is None:
        return None
    keys: dict[str, str | None] = {}
    for name in (THUMBNAIL_NAME, STORYBOARD_IMAGE_NAME):
        path = out / name
        keys[name] = None
        if path.exists() and path.stat().st_size > 0:
            _put_file(job.store, job.prefix + name, path, job.published)
            keys[name] = job.prefix + name
    vtt_key = None
    if keys[STORYBOARD_IMAGE_NAME]:
        vtt_key = job.prefix + STORYBOARD_VTT_NAME
        job.store.put(vtt_key, [storyboard_vtt(plan, duration).encode()], content_type="text/vtt")
        job.published.add(vtt_key)
    return ImagesResult(keys[THUMBNAIL_NAME], keys[STORYBOARD_IMAGE_NAME], vtt_key)


def _publish_static_mp4(
    job: _Job, out: Path, renditions: Sequence[RenditionPlan], audio: AudioPlan | None
) -> tuple[str | None, int | None]:
    """Remux the chosen rendition's segments (and the audio) into one progressive MP4."""
    name = static_mp4_name(job.options.mp4_support)
    plan = pick_static_rendition(renditions, job.options.mp4_support) if name else None
    if name is None or plan is None:
        return None, None
    work = out.parent
    video = join_fragments(out, RenditionFiles(plan.name).playlist, work / "static-video.mp4")
    sound = None
    if audio is not None:
        sound = join_fragments(out, RenditionFiles(AUDIO_NAME).playlist, work / "static-audio.mp4")
    command = build_static_mp4_command(video, sound, name)
    run = run_ffmpeg(command, cwd=work, timeout_seconds=_remaining(job.deadline))
    if run.returncode != 0:
        reason = stderr_reason(run.stderr)
        raise MediaError("encode_failed", f"The static MP4 could not be written ({reason}).")
    _put_file(job.store, job.prefix + name, work / name, job.published)
    return job.prefix + name, (work / name).stat().st_size


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise MediaError("timeout", "The job ran out of its wall-clock limit.")
    return left


def _delete_stale(store: ObjectStore, prefix: str, keep: set[str]) -> None:
    """Remove objects an earlier (redelivered or differently planned) run left under the prefix."""
    for info in list(store.list(prefix)):
        if info.key not in keep:
            store.delete(info.key)


def _delete_outputs(store: ObjectStore, prefix: str, keep: set[str]) -> None:
    """Best effort: a failed job leaves nothing behind but its source."""
    with contextlib.suppress(Exception):
        _delete_stale(store, prefix, keep)
