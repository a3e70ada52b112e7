"""Cut a live encoder's fragmented MP4 into LL-HLS parts and segments, and publish the playlists.

ffmpeg's HLS muxer cannot write parts, so each rendition is fragmented MP4 on a pipe (one
fragment of about half a second each); every fragment becomes a part, a segment closes once it
holds a segment target's worth, and the next one opens on a keyframe. Each object is written
before the playlist that names it, so a player never sees a URI it cannot fetch. Parts are
deleted once no playlist has named them for a segment (`PART_GRACE_SEGMENTS`), and all of them
once the session ends (its final playlists name segments only): the segments, which hold the
same media, stay for the DVR window and the recording. A segment's PROGRAM-DATE-TIME is its media
time on the wall clock of when the ingest received media time 0 (`media_origin`), so it is the
capture time of its first frame, less only the publisher's own encoder and network.
A session that moves to another ingest process hands its playlists' state over (`hand_over`, `resume`):
the media sequence goes on there, its next connection a discontinuity, as a reconnect here. An ingest that
died wrote no hand-over: the same state is read back from the playlists it published (`state_from_playlists`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol

import m3u8

from streamstack.media.fmp4 import Fragment, FragmentReader
from streamstack.media.llhls import (
    PARTS_KEPT_SEGMENTS,
    LivePlaylist,
    LiveSegment,
    Part,
    RenditionReport,
    render_low_latency,
    render_recording,
    render_standard,
)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MEDIA_TYPE = "video/mp4"
LOW_LATENCY_PLAYLIST = "ll.m3u8"
DELTA_PLAYLIST = "ll_skip.m3u8"
STANDARD_PLAYLIST = "standard.m3u8"
RECORDING_PLAYLIST = "recording.m3u8"
SEGMENT_TOLERANCE = 0.02  # a segment this close to its target is full (29.97 fps GOPs last 2.002 s)
PART_GRACE_SEGMENTS = 1  # parts out of the playlists stay this many segments (a player's last reload may name them)


class ObjectSink(Protocol):
    """Where the packager puts what it cuts (names relative to the session's root)."""

    def put(self, name: str, data: bytes, content_type: str) -> None: ...

    def delete(self, name: str) -> None: ...

    def get(self, name: str) -> bytes | None:
        """What the session's root holds under `name`; None when nothing."""
        ...


@dataclass(frozen=True)
class PackagingPlan:
    """Part and segment targets and the DVR window, the same for every rendition of a stream."""

    part_target: float
    segment_target: float
    window_seconds: float


def part_target_for(frame_rate: float, wanted: float) -> float:
    """The longest part ffmpeg writes for a wanted fragment duration: whole frames, rounded up."""
    frames = max(1, math.ceil(wanted * frame_rate - 1e-6))
    return math.ceil(round(frames / frame_rate * 100_000, 6)) / 100_000


class RenditionPackager:
    """One rendition's parts, segments and playlists; fed one fragment at a time."""

    def __init__(
        self,
        name: str,
        sink: ObjectSink,
        plan: PackagingPlan,
        *,
        reports: Callable[[str], Sequence[RenditionReport]] = lambda name: (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        media_origin: Callable[[], datetime | None] = lambda: None,
        on_part: Callable[[str, float, float], None] | None = None,
        recording: bool = True,
    ) -> None:
        self.name = name
        self.sink = sink
        self.plan = plan
        self.recording = recording  # False: no recording playlist, and segments go once out of the DVR window
        self.playlist = LivePlaylist(plan.segment_target, plan.part_target, plan.window_seconds)
        self._reports = reports
        self._clock = clock
        self._media_origin = media_origin
        self._on_part = on_part
        self._current: LiveSegment | None = None
        self._current_data: list[bytes] = []
        self._connection = -1
        self._init_uri = ""
        self._origin: datetime | None = None
        self._next_discontinuity = False
        self._expired: list[str] = []  # parts no playlist names any more, deleted once the playlists are out
        self.lock = threading.Lock()

    def start_connection(self, init: bytes) -> None:
        """A new encoder run (first publish or a reconnect): new init segment, a discontinuity after the first."""
        with self.lock:
            self._close_segment()
            self._connection += 1
            self._init_uri = f"init{self._connection}.mp4"
            self._next_discontinuity = self._connection > 0
            self._origin = None
        self.sink.put(f"{self.name}/{self._init_uri}", init, MEDIA_TYPE)

    def add(self, fragment: Fragment) -> None:
        """Publish a fragment as a part (opening or closing segments around it), then the playlists."""
        started = time.monotonic()
        with self.lock:
            current = self._current
            if current is not None and fragment.independent and current.duration >= self.plan.segment_target / 2:
                self._close_segment()  # a keyframe after half a segment: a new segment (odd GOPs)
            segment = self._current or self._open_segment(fragment)
            uri = f"{segment.msn}.{len(segment.parts)}.m4s"
            self.sink.put(f"{self.name}/{uri}", fragment.data, MEDIA_TYPE)
            segment.parts.append(Part(uri, fragment.duration, fragment.independent))
            self._current_data.append(fragment.data)
            if segment.duration >= self.plan.segment_target - SEGMENT_TOLERANCE:
                self._close_segment()
            self._publish()
            if not self.recording:
                self._expired += self._expire()
        if self._on_part is not None:
            self._on_part(self.name, fragment.duration, time.monotonic() - started)
        self._delete_expired()

    def finish(self) -> None:
        """The session is over: close the last segment and publish ENDLIST everywhere (live-to-VOD), without
        parts; then the parts still in the store go (the segments are the recording, parts only served the
        live edge)."""
        with self.lock:
            self._close_segment()
            self.playlist.ended = True
            self._publish()
            self._expired += self._parts_still_stored()
        self._delete_expired()

    def hand_over(self) -> dict[str, Any]:
        """The connection ended and another ingest resumes the session: the segment in progress is closed, the
        playlists go out without ENDLIST, and what `resume` needs is returned."""
        with self.lock:
            self._close_segment()
            self._publish()
            state = {"connection": self._connection, "discontinuity_sequence_base":
                     self.playlist.discontinuity_sequence_base,
                     "segments": [_segment_state(s) for s in self.playlist.segments]}  # fmt: skip
        self._delete_expired()
        return state

    def resume(self, state: Mapping[str, Any]) -> None:
        """Continue from a hand-over: the same media sequence, the next connection a discontinuity."""
        with self.lock:
            self._connection = int(state["connection"])
            self.playlist.discontinuity_sequence_base = int(state["discontinuity_sequence_base"])
            self.playlist.segments = [_segment_from_state(s) for s in state["segments"]]
            if self.playlist.segments and not self.playlist.segments[-1].complete:
                self._resume_segment(self.playlist.segments[-1])

    def _resume_segment(self, segment: LiveSegment) -> None:
        """The segment a dead ingest had in progress (read back from its playlists) is this one's to close, from its
        parts in the store, as the next connection or `finish` would close its own; dropped without all of them."""
        data = [self.sink.get(f"{self.name}/{part.uri}") for part in segment.parts]
        if not data or None in data:
            self.playlist.segments.remove(segment)
            return
        self._current, self._current_data = segment, [chunk for chunk in data if chunk is not None]

    def live_edge(self) -> RenditionReport | None:
        """This rendition's newest part, as other renditions report it."""
        last = self.playlist.last_part()
        return RenditionReport(f"../{self.name}/{LOW_LATENCY_PLAYLIST}", *last) if last else None

    def _open_segment(self, fragment: Fragment) -> LiveSegment:
        if self._origin is None:  # when the ingest received media time 0; else: the fragment just finished, about now
            self._origin = self._media_origin() or self._clock() - timedelta(seconds=fragment.start + fragment.duration)
        date = self._origin + timedelta(seconds=fragment.start)
        previous = self.playlist.segments[-1] if self.playlist.segments else None
        if previous is not None:
            date = max(date, previous.program_date_time + timedelta(seconds=previous.duration))
        msn = previous.msn + 1 if previous else 0
        segment = LiveSegment(msn, self._init_uri, date, discontinuity=self._next_discontinuity)
        self._next_discontinuity = False
        self.playlist.segments.append(segment)
        self._current, self._current_data = segment, []
        return segment

    def _close_segment(self) -> None:
        segment = self._current
        if segment is None:
            return
        if segment.parts:
            uri = f"{segment.msn}.m4s"
            self.sink.put(f"{self.name}/{uri}", b"".join(self._current_data), MEDIA_TYPE)
            segment.uri = uri
            self._expired += self._parts_out_of_window()
        else:
            self.playlist.segments.remove(segment)
        self._current, self._current_data = None, []

    def _parts_out_of_window(self) -> list[str]:
        """The parts of the segment that left the playlists' part window PART_GRACE_SEGMENTS segments ago."""
        complete = 0
        for segment in reversed(self.playlist.segments):
            complete += segment.complete
            if complete > PARTS_KEPT_SEGMENTS + PART_GRACE_SEGMENTS:
                return [f"{self.name}/{part.uri}" for part in segment.parts]
        return []

    def _parts_still_stored(self) -> list[str]:
        """The parts `_parts_out_of_window` has not handed out yet: those of the newest complete segments."""
        complete = [s for s in self.playlist.segments if s.complete]
        kept = complete[-(PARTS_KEPT_SEGMENTS + PART_GRACE_SEGMENTS):]
        return [f"{self.name}/{part.uri}" for segment in kept for part in segment.parts]

    def _delete_expired(self) -> None:
        """After the playlists that stopped naming them: a delete never races a playlist a player just read."""
        with self.lock:
            expired, self._expired = self._expired, []
        for name in expired:
            self.sink.delete(name)

    def _expire(self) -> list[str]:
        """Without a recording, segments (with their parts and unused init segments) leave the store once no
        playlist a player may still hold names them: RFC 8216bis 6.2.2, the segment's duration plus the
        playlist's after it left the window."""
        keep_seconds = 2 * self.plan.window_seconds + self.plan.segment_target
        segments = self.playlist.segments
        behind = sum(s.duration for s in segments)
        expired: list[LiveSegment] = []
        for segment in segments:
            behind -= segment.duration
            if not segment.complete or behind <= keep_seconds:
                break
            expired.append(segment)
        if not expired:
            return []
        del segments[: len(expired)]
        self.playlist.discontinuity_sequence_base += sum(1 for s in expired if s.discontinuity)
        in_use = {s.init_uri for s in segments} | {self._init_uri}
        names = [name for s in expired for name in (str(s.uri), *(p.uri for p in s.parts))]  # parts: if still there
        return [f"{self.name}/{name}" for name in names + sorted({s.init_uri for s in expired} - in_use)]

    def _preload_hint(self) -> str:
        if self._current is not None:
            return f"{self._current.msn}.{len(self._current.parts)}.m4s"
        last = self.playlist.segments[-1].msn if self.playlist.segments else -1
        return f"{last + 1}.0.m4s"

    def _publish(self) -> None:
        reports = [r for r in self._reports(self.name)]
        hint = self._preload_hint()
        put = self.sink.put
        put(f"{self.name}/{DELTA_PLAYLIST}", render_low_latency(self.playlist, preload_hint=hint, reports=reports,
                                                               skip=True).encode(), PLAYLIST_TYPE)
        put(f"{self.name}/{STANDARD_PLAYLIST}", render_standard(self.playlist).encode(), PLAYLIST_TYPE)
        if self.recording:
            put(f"{self.name}/{RECORDING_PLAYLIST}", render_recording(self.playlist).encode(), PLAYLIST_TYPE)
        # the full LL playlist last: blocking reloads wake on it, and everything it names exists by now
        put(f"{self.name}/{LOW_LATENCY_PLAYLIST}", render_low_latency(self.playlist, preload_hint=hint,
                                                                     reports=reports).encode(), PLAYLIST_TYPE)


class LivePackager:
    """All renditions of one live stream: shared rendition reports, one thread per encoder pipe."""

    def __init__(
        self,
        names: Sequence[str],
        sink: ObjectSink,
        plan: PackagingPlan,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        media_origin: Callable[[], datetime | None] = lambda: None,
        on_part: Callable[[str, float, float], None] | None = None,
        recording: bool = True,
    ) -> None:
        self.renditions = {
            name: RenditionPackager(name, sink, plan, reports=self._reports_for, clock=clock,
                                    media_origin=media_origin, on_part=on_part, recording=recording)
            for name in names
        }

    def _reports_for(self, name: str) -> list[RenditionReport]:
        reports = []
        for other, packager in self.renditions.items():
            if other != name and (edge := packager.live_edge()) is not None:
                reports.append(edge)
        return reports

    def package(self, name: str, stream: BinaryIO) -> int:
        """Read one rendition's fMP4 stream to its end (one encoder connection); returns fragments packaged."""
        packager = self.renditions[name]
        reader = FragmentReader(stream)
        packager.start_connection(reader.read_init())
        count = 0
        for fragment in reader.fragments():
            packager.add(fragment)
            count += 1
        return count

    def package_all(self, streams: Mapping[str, BinaryIO]) -> dict[str, int | BaseException]:
        """Package every rendition of one encoder connection in parallel, until all streams end."""
        results: dict[str, int | BaseException] = {}

        def run(name: str, stream: BinaryIO) -> None:
            try:
                results[name] = self.package(name, stream)
            except BaseException as exc:  # reported to the caller, which decides the session's fate
                results[name] = exc
                while stream.read(1 << 16):  # keep draining, so the encoder never blocks on this pipe
                    pass

        threads = [threading.Thread(target=run, args=item, name=f"package-{item[0]}", daemon=True)
                   for item in streams.items()]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def finish(self) -> None:
        for packager in self.renditions.values():
            packager.finish()

    def hand_over(self) -> dict[str, Any]:
        """Every rendition's state for the ingest that resumes the session (JSON-ready)."""
        plan = next(iter(self.renditions.values())).plan
        return {"plan": asdict(plan),
                "renditions": {name: packager.hand_over() for name, packager in self.renditions.items()}}

    def resume(self, state: Mapping[str, Any]) -> None:
        """The renditions a hand-over knows continue from it (a rendition it does not know starts afresh)."""
        for name, rendition in state["renditions"].items():
            if name in self.renditions:
                self.renditions[name].resume(rendition)


def state_from_playlists(playlists: Mapping[str, tuple[str, str]], *, segment_target: float,
                         window_seconds: float) -> dict[str, Any]:
    """What `LivePackager.hand_over` would have said, read back from the playlists an ingest that died published:
    per rendition, its LL playlist and the one listing its segments (the recording; an unrecorded session's
    standard playlist, its DVR window). The part target is the LL playlist's; the rest is the ingest's settings."""
    parsed = {name: (m3u8.loads(edge), m3u8.loads(listed)) for name, (edge, listed) in playlists.items()}
    part_target = next((e.part_inf.part_target for e, _ in parsed.values() if e.part_inf), segment_target)
    plan = PackagingPlan(float(part_target), segment_target, window_seconds)
    return {"plan": asdict(plan), "renditions": {name: _rendition_from_playlists(edge, listed)
                                                 for name, (edge, listed) in parsed.items()}}  # fmt: skip


def _rendition_from_playlists(edge: m3u8.M3U8, listed: m3u8.M3U8) -> dict[str, Any]:
    """One rendition's state: every segment `listed` names (written before any playlist named it, so in the store),
    with its parts where the LL playlist still lists them all (else one part of its length, named as its first), then
    the segment in progress, as `_segment_from_state` reads it (no URI: `resume` closes it from its parts)."""
    base = int(listed.discontinuity_sequence or 0)  # the first segment's own discontinuity included (no tag there)
    parts = {s.uri: _parts(s.parts) for s in edge.segments if s.uri}
    segments: list[LiveSegment] = []
    for msn, item in enumerate(listed.segments, start=int(listed.media_sequence or 0)):
        known = parts.get(item.uri, [])
        if not known or abs(sum(p.duration for p in known) - item.duration) > 1e-4:
            known = [Part(f"{msn}.0.m4s", float(item.duration), True)]  # its parts are gone: only its length counts
        segments.append(LiveSegment(msn, item.init_section.uri, item.program_date_time,
                                    discontinuity=bool(item.discontinuity), parts=known, uri=item.uri))  # fmt: skip
    tail = edge.segments[-1] if edge.segments else None
    tail_msn = int(edge.media_sequence or 0) + len(edge.segments) - 1
    if tail is not None and tail.uri is None and tail.parts and edge.segment_map and \
            tail_msn == (segments[-1].msn + 1 if segments else 0):  # fmt: skip
        init = edge.segment_map[-1].uri  # a new connection's first segment opens with a new init (a discontinuity)
        segments.append(LiveSegment(tail_msn, init, tail.parts[0].program_date_time, parts=_parts(tail.parts),
                                    discontinuity=bool(segments) and segments[-1].init_uri != init))  # fmt: skip
    connections = [int(m.group(1)) for s in segments if (m := re.fullmatch(r"init(\d+)\.mp4", s.init_uri))]
    return {"connection": max(connections, default=-1), "discontinuity_sequence_base": base,
            "segments": [_segment_state(s) for s in segments]}  # fmt: skip


def _parts(parts: m3u8.PartialSegmentList) -> list[Part]:
    return [Part(str(p.uri), float(p.duration), p.independent == "YES") for p in parts]


def _segment_state(segment: LiveSegment) -> dict[str, Any]:
    return {"msn": segment.msn, "init_uri": segment.init_uri, "uri": segment.uri,
            "program_date_time": segment.program_date_time.isoformat(), "discontinuity": segment.discontinuity,
            "parts": [[p.uri, p.duration, p.independent] for p in segment.parts]}  # fmt: skip


def _segment_from_state(state: Mapping[str, Any]) -> LiveSegment:
    return LiveSegment(int(state["msn"]), str(state["init_uri"]), datetime.fromisoformat(state["program_date_time"]),
                       discontinuity=bool(state["discontinuity"]), uri=state["uri"],
                       parts=[Part(str(uri), float(duration), bool(independent))
                              for uri, duration, independent in state["parts"]])  # fmt: skip
