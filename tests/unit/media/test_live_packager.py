"""The live encoder + packager on a real ffmpeg: parts, segments and playlists that obey the spec and decode."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import imageio_ffmpeg
import pytest

from streamstack.media.fmp4 import Fragment, FragmentError, FragmentReader
from streamstack.media.live import LIVE_LADDER, build_live_command, plan_live
from streamstack.media.live_packager import (
    PART_GRACE_SEGMENTS,
    LivePackager,
    PackagingPlan,
    part_target_for,
    state_from_playlists,
)
from streamstack.media.llhls import PARTS_KEPT_SEGMENTS
from streamstack.media.probe import Probe
from tests.unit.media.llhls_rules import check_playlist, check_sequence, parse

SECONDS = 7


def live_settings(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = dict(
        ladder=None, live_ladder=None, max_resolution=None, max_frame_rate=60.0, keyframe_seconds=2.0,
        live_part_seconds=0.5, live_dvr_window=4.0, live_x264_preset="ultrafast",
    )  # fmt: skip
    values.update(overrides)
    return SimpleNamespace(**values)


def source_probe(width: int = 640, height: int = 360, rate: float = 30.0) -> Probe:
    return Probe(format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=True, width=width,
                 height=height, frame_rate=rate, video_stream=0, audio_stream=1, audio_channels=2,
                 audio_sample_rate=48000)  # fmt: skip


class RecordingSink:
    """An object store in memory that keeps every version of every playlist, in write order."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.history: dict[str, list[str]] = {}
        self.deleted: list[str] = []
        self.lock = threading.Lock()

    def put(self, name: str, data: bytes, content_type: str) -> None:
        with self.lock:
            if name.endswith(".m3u8"):
                text = data.decode()
                for uri in self._uris(text):  # everything a playlist names already exists
                    assert f"{name.rsplit('/', 1)[0]}/{uri}" in self.objects, f"{name} names missing {uri}"
                self.history.setdefault(name, []).append(text)
            self.objects[name] = data

    def delete(self, name: str) -> None:
        with self.lock:
            self.objects.pop(name, None)
            self.deleted.append(name)

    def get(self, name: str) -> bytes | None:
        with self.lock:
            return self.objects.get(name)

    @staticmethod
    def _uris(text: str) -> list[str]:
        playlist = parse(text)
        uris = [s.uri for s in playlist.segments] + [u for s in playlist.segments for _, u, _ in s.parts]
        return uris + [u for _, u, _ in playlist.trailing_parts]


def encode_live(
    tmp_path: Path, settings: SimpleNamespace, seconds: int = SECONDS, *, audio_lead: float = 0.0
) -> tuple[RecordingSink, LivePackager]:
    """The live encoder and packager on a lavfi publisher whose audio starts `audio_lead` s before its video."""
    probe = source_probe()
    plan = plan_live(probe, settings)
    source = [
        "-f", "lavfi", "-i",
        f"testsrc2=size=640x360:rate=30:duration={seconds}[out0];"
        f"sine=frequency=440:sample_rate=48000:duration={seconds},asetpts=PTS-{audio_lead}/TB[out1]",
    ]  # fmt: skip
    pipes = [os.pipe() for _ in plan.renditions]
    command = build_live_command(source, probe, plan, [w for _, w in pipes])
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *command],
                            pass_fds=[w for _, w in pipes], stderr=subprocess.PIPE)  # fmt: skip
    for _, write_end in pipes:
        os.close(write_end)
    sink = RecordingSink()
    packager = LivePackager([r.name for r in plan.renditions], sink, plan.packaging)
    streams = {r.name: os.fdopen(read_end, "rb") for r, (read_end, _) in zip(plan.renditions, pipes, strict=True)}
    results = packager.package_all(streams)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert all(isinstance(count, int) and count > 0 for count in results.values()), results
    packager.finish()
    return sink, packager


def decode(path: Path) -> str:
    """Decode a playlist with ffmpeg end to end; returns its diagnostics (which carry the duration read)."""
    run = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-stats", "-allowed_extensions", "ALL",
         "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "rror" not in run.stderr.replace("error_", ""), run.stderr
    return run.stderr


def write_out(sink: RecordingSink, root: Path) -> None:
    for name, data in sink.objects.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> tuple[RecordingSink, LivePackager, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("live")
    sink, packager = encode_live(root, live_settings(live_ladder=[r for r in LIVE_LADDER if r.height <= 360]
                                                     + [LIVE_LADDER[-1].__class__("180p", 180, 200)]))
    write_out(sink, root)
    return sink, packager, root


def test_every_low_latency_playlist_written_obeys_the_spec(packaged) -> None:  # type: ignore[no-untyped-def]
    sink, packager, _ = packaged
    assert set(packager.renditions) == {"360p", "180p"}
    for name in packager.renditions:
        history = sink.history[f"{name}/ll.m3u8"]
        assert len(history) >= SECONDS * 2 - 1  # a new playlist for every part
        parsed = check_sequence(history)
        final = parsed[-1]
        assert final.ended and not final.preload_hints
        assert final.tags["EXT-X-PART-INF"] == "PART-TARGET=0.50000"
        live = parsed[len(parsed) // 2]
        assert live.preload_hints and live.reports, "a live playlist hints the next part and reports the others"
        assert {r["URI"] for r in live.reports} == {f"../{o}/ll.m3u8" for o in packager.renditions if o != name}


def test_parts_start_segments_on_keyframes_and_segments_last_the_gop(packaged) -> None:  # type: ignore[no-untyped-def]
    sink, _, _ = packaged
    final = parse(sink.history["360p/recording.m3u8"][-1])
    assert [round(s.duration, 3) for s in final.segments] == [2.0, 2.0, 2.0, 1.0]
    mid = parse(sink.history["360p/ll.m3u8"][9])  # 10 parts in: segment 2 is growing
    assert all(p[0] <= 0.5 for s in mid.segments for p in s.parts)
    assert [p[2] for p in mid.segments[0].parts] == [True, False, False, False]


@pytest.mark.parametrize("audio_lead", [0.04, 0.5], ids=["a frame and more", "half a second"])
def test_audio_ahead_of_the_video_does_not_cut_parts_short(tmp_path: Path, audio_lead: float) -> None:
    """A publisher's audio starting before its video (by a frame and more, or by the half second before its first
    keyframe): ffmpeg's muxer cuts a fragment when any track reaches the part duration, so the audio cut the first
    part 14 frames long and the segment ended on a one-frame part. Every part but a segment's last is whole."""
    sink, _ = encode_live(tmp_path, live_settings(live_ladder=[LIVE_LADDER[-1].__class__("180p", 180, 200)]),
                          seconds=5, audio_lead=audio_lead)  # fmt: skip
    playlists = check_sequence(sink.history["180p/ll.m3u8"])  # no part over PART-TARGET, parts sum to EXTINF
    part_target = float(playlists[0].tags["EXT-X-PART-INF"].removeprefix("PART-TARGET="))
    parts = {segment.msn: segment.parts for playlist in playlists for segment in playlist.segments if segment.parts}
    assert {0, 1} <= set(parts), parts  # the complete segments with their parts (the last one ends without)
    frame = 1 / 30
    for msn, segment_parts in parts.items():
        assert segment_parts[0][2], f"segment {msn} starts on a keyframe"
        short = [(uri, duration) for duration, uri, _ in segment_parts[:-1] if part_target - duration > frame / 2]
        assert not short, f"segment {msn}: parts short of PART-TARGET {part_target}: {short}"
    assert all(len(segment_parts) == 4 for segment_parts in parts.values()), "2 s segments of 0.5 s parts"


def test_the_window_slides_and_delta_updates_skip_old_segments(packaged) -> None:  # type: ignore[no-untyped-def]
    sink, _, _ = packaged
    final = parse(sink.history["360p/ll.m3u8"][-1])
    assert final.media_sequence >= 1, "segments older than the 4 s DVR window leave the playlist"
    standard = check_playlist(sink.history["360p/standard.m3u8"][-1], low_latency=False)
    assert standard.media_sequence == final.media_sequence
    delta = [parse(t) for t in sink.history["360p/ll_skip.m3u8"]]
    assert not any(p.skipped for p in delta), "a 4 s window is shorter than CAN-SKIP-UNTIL: nothing to skip"


def test_delta_updates_leave_out_segments_older_than_skip_until(tmp_path: Path) -> None:
    sink, _ = encode_live(tmp_path, live_settings(live_ladder=[LIVE_LADDER[-1].__class__("180p", 180, 200)],
                                                   live_dvr_window=60.0), seconds=16)
    full = check_playlist(sink.history["180p/ll.m3u8"][-2])
    delta = check_playlist(sink.history["180p/ll_skip.m3u8"][-2])
    assert delta.skipped >= 1
    assert delta.media_sequence == full.media_sequence
    assert [s.uri for s in delta.segments] == [s.uri for s in full.segments[delta.skipped :]]


def test_the_recording_and_the_live_playlist_decode_with_ffmpeg(packaged) -> None:  # type: ignore[no-untyped-def]
    sink, _, root = packaged
    recording = parse(sink.history["360p/recording.m3u8"][-1])
    assert recording.ended and recording.tags["EXT-X-PLAYLIST-TYPE"] == "VOD"
    stats = decode(root / "360p" / "recording.m3u8")
    assert "time=00:00:06.9" in stats or "time=00:00:07.0" in stats, stats
    decode(root / "180p" / "ll.m3u8")


def test_a_reconnect_continues_the_sequence_after_a_discontinuity(tmp_path: Path) -> None:
    sink = RecordingSink()
    settings = live_settings(live_ladder=[LIVE_LADDER[-1].__class__("180p", 180, 200)], live_dvr_window=60.0)
    first, _ = encode_live(tmp_path, settings, seconds=3)
    packager = LivePackager(["180p"], sink, plan_live(source_probe(), settings).packaging)
    for connection in (first, first):  # the same publisher twice: init, then fragments, twice
        stream = _Bytes(connection.objects["180p/init0.mp4"] + b"".join(
            connection.objects[f"180p/{n}.m4s"] for n in range(2)))
        packager.package("180p", stream)  # type: ignore[arg-type]
    packager.finish()
    final = check_playlist(sink.history["180p/ll.m3u8"][-1])
    assert [s.discontinuity for s in final.segments] == [False, False, True, False]
    recording = sink.history["180p/recording.m3u8"][-1]
    assert recording.count("#EXT-X-DISCONTINUITY\n") == 1 and '#EXT-X-MAP:URI="init1.mp4"' in recording
    write_out(sink, tmp_path / "out")
    decode(tmp_path / "out" / "180p" / "recording.m3u8")


def test_a_session_handed_over_to_another_packager_continues_as_a_reconnect_would(tmp_path: Path) -> None:
    """Another ingest process resumes from the hand-over (as JSON, through the store): the same playlists as a
    reconnect to the same packager, a discontinuity and the next media sequence numbers."""
    sink = RecordingSink()
    settings = live_settings(live_ladder=[LIVE_LADDER[-1].__class__("180p", 180, 200)], live_dvr_window=60.0)
    first, _ = encode_live(tmp_path, settings, seconds=3)
    connection = first.objects["180p/init0.mp4"] + b"".join(first.objects[f"180p/{n}.m4s"] for n in range(2))
    packaging = plan_live(source_probe(), settings).packaging
    leaving = LivePackager(["180p"], sink, packaging)
    leaving.package("180p", _Bytes(connection))  # type: ignore[arg-type]
    state = json.loads(json.dumps(leaving.hand_over()))
    assert "#EXT-X-ENDLIST" not in sink.history["180p/ll.m3u8"][-1], "the session is still live"
    taking = LivePackager(["180p"], sink, PackagingPlan(**state["plan"]))
    taking.resume(state)
    taking.package("180p", _Bytes(connection))  # type: ignore[arg-type]
    taking.finish()
    final = check_playlist(sink.history["180p/ll.m3u8"][-1])
    assert [(s.msn, s.discontinuity) for s in final.segments] == [(0, False), (1, False), (2, True), (3, False)]
    recording = sink.history["180p/recording.m3u8"][-1]
    assert recording.count("#EXT-X-DISCONTINUITY\n") == 1 and '#EXT-X-MAP:URI="init1.mp4"' in recording
    write_out(sink, tmp_path / "out")
    decode(tmp_path / "out" / "180p" / "recording.m3u8")


def test_parts_of_a_handed_over_session_are_deleted_by_the_packager_that_took_it_over() -> None:
    sink = RecordingSink()
    plan = PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=30.0)
    leaving, taking = LivePackager(["360p"], sink, plan), LivePackager(["360p"], sink, plan)
    for packager, first in ((leaving, 0), (taking, 20)):  # 5 segments of 4 parts on each side of the hand-over
        if packager is taking:
            taking.resume(json.loads(json.dumps(leaving.hand_over())))
        packager.renditions["360p"].start_connection(b"init")
        for index in range(first, first + 20):
            packager.renditions["360p"].add(Fragment(b"part", index * 0.5, 0.5, independent=index % 4 == 0))
    taking.finish()
    assert all(f"360p/{msn}.m4s" in sink.objects for msn in range(10))
    assert not [name for name in sink.objects if name.count(".") == 2], "no part is left, A's included"
    assert len(sink.deleted) == len(set(sink.deleted)) == 40, "each part deleted once"


CRASH_PLAN = PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=30.0)
CRASH_ORIGIN = datetime(2026, 12, 1, 4, 0, 0, tzinfo=UTC)


def _connection(packager: LivePackager, first: int, fragments: int, label: bytes) -> None:
    """One encoder run on both renditions: a new init, then parts of 0.5 s, a keyframe every 2 s."""
    for name, rendition in packager.renditions.items():
        rendition.start_connection(b"init " + label + name.encode())
        for index in range(first, first + fragments):
            rendition.add(Fragment(label + f" {name} {index}".encode(), index * 0.5, 0.5,
                                  independent=(index - first) % 4 == 0))


def _crashed(sink: RecordingSink, plan: PackagingPlan, *, recording: bool) -> LivePackager:
    """An ingest's packager that dies mid-segment: 3 segments, a reconnect, 2 segments and 2 parts of the next."""
    packager = LivePackager(["360p", "180p"], sink, plan, media_origin=lambda: CRASH_ORIGIN, recording=recording)
    _connection(packager, 0, 12, b"A0")
    _connection(packager, 12, 10, b"A1")
    return packager


def _published(sink: RecordingSink, recording: bool) -> dict[str, tuple[str, str]]:
    listing = "recording.m3u8" if recording else "standard.m3u8"
    return {name: (sink.objects[f"{name}/ll.m3u8"].decode(), sink.objects[f"{name}/{listing}"].decode())
            for name in ("360p", "180p")}  # fmt: skip


@pytest.mark.parametrize("recording", [True, False], ids=["recorded", "unrecorded"])
def test_a_session_whose_ingest_died_is_taken_over_from_its_playlists_as_from_a_hand_over(recording: bool) -> None:
    """No hand-over from a killed ingest: the state read back from its playlists (the recording, or an unrecorded
    session's standard window, and the LL playlist) continues the session as the hand-over would have: the same
    media sequence, a discontinuity, the segment in progress closed from its parts, the same playlists to the end."""
    plan = CRASH_PLAN if recording else PackagingPlan(0.5, 2.0, 5.0)  # unrecorded: a window that slid
    handed, crashed = RecordingSink(), RecordingSink()
    state = _crashed(handed, plan, recording=recording).hand_over()
    _crashed(crashed, plan, recording=recording)  # killed: no hand_over
    assert "360p/5.m4s" not in crashed.objects and "360p/5.1.m4s" in crashed.objects, "a segment was in progress"
    rebuilt = state_from_playlists(_published(crashed, recording), segment_target=2.0,
                                   window_seconds=plan.window_seconds)  # fmt: skip
    assert rebuilt["plan"] == state["plan"]
    for rendition in ("360p", "180p"):
        ours, theirs = rebuilt["renditions"][rendition], state["renditions"][rendition]
        assert ours["connection"] == theirs["connection"] == 1
        assert [s["msn"] for s in ours["segments"]][-3:] == [3, 4, 5] and ours["segments"][-1]["uri"] is None
    for sink, resumed in ((handed, state), (crashed, json.loads(json.dumps(rebuilt)))):
        taking = LivePackager(["360p", "180p"], sink, PackagingPlan(**resumed["plan"]), recording=recording,
                              media_origin=lambda: CRASH_ORIGIN)  # fmt: skip
        taking.resume(resumed)
        _connection(taking, 22, 9, b"B")
        taking.finish()
    assert crashed.objects["360p/5.m4s"] == handed.objects["360p/5.m4s"] == b"A1 360p 20A1 360p 21", "joined parts"
    names = ["ll.m3u8", "standard.m3u8", *(["recording.m3u8"] if recording else [])]
    for name in (f"{rendition}/{playlist}" for rendition in ("360p", "180p") for playlist in names):
        assert crashed.history[name][-1] == handed.history[name][-1], name
        rendition = name.split("/")[0]
        assert all(f"{rendition}/{uri}" in crashed.objects for uri in RecordingSink._uris(crashed.history[name][-1]))
    final = check_playlist(crashed.history["360p/ll.m3u8"][-1])
    assert [s.msn for s in final.segments][-3:] == [6, 7, 8] and final.ended
    if recording:
        text = crashed.history["360p/recording.m3u8"][-1]
        assert text.count("#EXT-X-DISCONTINUITY\n") == 2 and "#EXT-X-ENDLIST" in text
        assert [line for line in text.splitlines() if line.endswith(".m4s")] == [f"{n}.m4s" for n in range(9)]


def test_a_segment_in_progress_missing_a_part_is_dropped_and_its_number_goes_to_the_next() -> None:
    sink = RecordingSink()
    _crashed(sink, CRASH_PLAN, recording=True)
    sink.delete("360p/5.1.m4s")  # never written whole (it is in the playlist, but say the store lost it)
    rebuilt = state_from_playlists(_published(sink, True), segment_target=2.0, window_seconds=30.0)
    taking = LivePackager(["360p", "180p"], sink, PackagingPlan(**rebuilt["plan"]), media_origin=lambda: CRASH_ORIGIN)
    taking.resume(rebuilt)
    _connection(taking, 22, 4, b"B")
    taking.finish()
    listed = {rendition: [line for line in sink.history[f"{rendition}/recording.m3u8"][-1].splitlines()
                          if line.endswith(".m4s")] for rendition in ("360p", "180p")}  # fmt: skip
    assert listed["360p"] == [f"{n}.m4s" for n in range(6)] and sink.objects["360p/5.m4s"].startswith(b"B 360p 22")
    assert listed["180p"] == [f"{n}.m4s" for n in range(7)], "the other rendition closed its own from its parts"


def test_parts_that_left_the_part_window_are_deleted_and_segments_stay() -> None:
    sink = RecordingSink()
    packager = LivePackager(["360p"], sink, PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=30.0))
    rendition = packager.renditions["360p"]
    rendition.start_connection(b"init")
    for index in range(40):  # 10 segments of 4 parts, a keyframe every 2 s
        rendition.add(Fragment(f"part {index}".encode(), index * 0.5, 0.5, independent=index % 4 == 0))
        listed = RecordingSink._uris(sink.history["360p/ll.m3u8"][-1])
        assert not set(listed) & {name.removeprefix("360p/") for name in sink.deleted}, "a listed part was deleted"
    kept = PARTS_KEPT_SEGMENTS + PART_GRACE_SEGMENTS  # while live, the parts of the last `kept` segments stay
    assert sorted(sink.deleted) == sorted(f"360p/{msn}.{part}.m4s" for msn in range(10 - kept) for part in range(4))
    assert all(f"360p/{msn}.{part}.m4s" in sink.objects for msn in range(10 - kept, 10) for part in range(4))
    packager.finish()
    assert all(f"360p/{msn}.m4s" in sink.objects for msn in range(10)), "segments stay (DVR window, recording)"
    assert not [name for name in sink.objects if name.count(".") == 2], "the session ended: no part is left"
    assert len(sink.deleted) == len(set(sink.deleted)) == 40, "each part deleted once"
    recording = check_playlist(sink.history["360p/recording.m3u8"][-1], low_latency=False)
    assert len(recording.segments) == 10 and recording.ended
    for name in ("360p/ll.m3u8", "360p/ll_skip.m3u8", "360p/standard.m3u8", "360p/recording.m3u8"):
        final = sink.history[name][-1]
        assert "#EXT-X-ENDLIST" in final and "#EXT-X-PART:" not in final, name
        assert all(f"360p/{uri}" in sink.objects for uri in RecordingSink._uris(final)), name
    check_playlist(sink.history["360p/ll.m3u8"][-1])


def program_date_times(playlist_text: str) -> list[datetime]:
    return [datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
            for line in playlist_text.splitlines() if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")]  # fmt: skip


def test_program_date_times_count_from_when_the_ingest_received_media_time_zero() -> None:
    """The first part comes out of the encoder well after its media was captured: the date is the arrival of
    media time 0 (the relay's FLV) plus media time, not the packager's clock less the media it has seen."""
    arrived = datetime(2026, 11, 30, 21, 0, 0, tzinfo=UTC)
    packaged_at = arrived + timedelta(seconds=1.29)  # relay, encoder start-up and the first fragment: 0.79 s late
    sink = RecordingSink()
    plan = PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=30.0)
    rendition = LivePackager(["360p"], sink, plan, clock=lambda: packaged_at, media_origin=lambda: arrived)
    rendition.renditions["360p"].start_connection(b"init")
    for index in range(12):
        rendition.renditions["360p"].add(Fragment(b"part", index * 0.5, 0.5, independent=index % 4 == 0))
    dates = program_date_times(sink.history["360p/ll.m3u8"][-1])
    assert dates == [arrived + timedelta(seconds=2 * n) for n in range(3)]


def test_without_an_arrival_time_the_date_is_the_first_fragment_out_less_its_media() -> None:
    packaged_at = datetime(2026, 11, 30, 21, 0, 1, 290000, tzinfo=UTC)
    sink = RecordingSink()
    plan = PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=30.0)
    rendition = LivePackager(["360p"], sink, plan, clock=lambda: packaged_at).renditions["360p"]
    rendition.start_connection(b"init")
    rendition.add(Fragment(b"part", 0.0, 0.5, independent=True))
    assert program_date_times(sink.history["360p/ll.m3u8"][-1]) == [packaged_at - timedelta(seconds=0.5)]


def test_a_stream_that_is_not_fragmented_mp4_is_refused() -> None:
    with pytest.raises(FragmentError):
        FragmentReader(_Bytes(b"\x00\x00\x00\x10mdat" + b"\x00" * 8)).read_init()
    with pytest.raises(FragmentError):
        FragmentReader(_Bytes(b"FLV\x01\x05" + b"\xff" * 40)).read_init()


def test_part_target_is_whole_frames_rounded_up() -> None:
    assert part_target_for(30.0, 0.5) == 0.5
    assert part_target_for(float(Fraction(30000, 1001)), 0.5) == 0.5005
    assert part_target_for(25.0, 0.5) == 0.52


class _Bytes:
    """A readable stream over bytes that returns short reads, as a pipe does."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, count: int = -1) -> bytes:
        count = min(count if count >= 0 else len(self.data), 4096)
        chunk = self.data[self.at : self.at + count]
        self.at += len(chunk)
        return chunk
