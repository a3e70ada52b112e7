"""Read a fragmented MP4 stream box by box: the init segment, then one fragment (moof + mdat) at a time.

The live packager cuts LL-HLS parts at fragment boundaries, so it needs, per fragment, only its
bytes, its decode time, its duration and whether it starts on a keyframe. Those come from the
`tfdt`, `trun` and `tfhd` boxes of the video track (ISO/IEC 14496-12, 8.8); timescales come from
each track's `mdhd` in the init segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

HEADER = struct.Struct(">I4s")
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"dinf"}
MAX_BOX_BYTES = 256 << 20  # a fragment bigger than this is a broken stream, not video
NON_SYNC_FLAG = 0x00010000  # sample_is_non_sync_sample in a sample_flags word


class FragmentError(ValueError):
    """The byte stream is not the fragmented MP4 the packager expects."""


@dataclass(frozen=True)
class Box:
    """One box: its four-character type and payload (header excluded)."""

    type: bytes
    payload: bytes

    def children(self) -> Iterator[Box]:
        """The boxes nested in a container box."""
        return iter_boxes(self.payload)

    def child(self, kind: bytes) -> Box | None:
        return next((b for b in self.children() if b.type == kind), None)


@dataclass(frozen=True)
class Track:
    """A track of the init segment: its id, handler (vide/soun) and media timescale."""

    track_id: int
    handler: str
    timescale: int


@dataclass(frozen=True)
class Fragment:
    """One moof + mdat pair and what the packager needs to know about it (times in seconds)."""

    data: bytes
    start: float
    duration: float
    independent: bool


def iter_boxes(data: bytes) -> Iterator[Box]:
    """Boxes laid end to end in a buffer (a container's payload)."""
    at = 0
    while at + 8 <= len(data):
        size, kind = HEADER.unpack_from(data, at)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - at
        if size < header or at + size > len(data):
            raise FragmentError(f"box {kind!r} at {at} has a size ({size}) outside its parent")
        yield Box(kind, data[at + header : at + size])
        at += size


def read_box(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """The next top-level box as (type, whole box bytes), or None at a clean end of stream."""
    header = _read_exact(stream, 8, allow_eof=True)
    if header is None:
        return None
    size, kind = HEADER.unpack(header)
    if size == 1:
        large = _read_exact(stream, 8)
        assert large is not None
        size = struct.unpack(">Q", large)[0]
        header += large
    if size < len(header) or size > MAX_BOX_BYTES:
        raise FragmentError(f"box {kind!r} has an unusable size ({size})")
    body = _read_exact(stream, size - len(header))
    assert body is not None
    return kind, header + body


def _read_exact(stream: BinaryIO, count: int, *, allow_eof: bool = False) -> bytes | None:
    chunks: list[bytes] = []
    remaining = count
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if allow_eof and remaining == count:
                return None
            raise FragmentError(f"stream ended inside a box ({count - remaining} of {count} bytes)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def parse_tracks(moov: Box) -> list[Track]:
    """Tracks of an init segment's moov box."""
    tracks = []
    for trak in moov.children():
        if trak.type != b"trak":
            continue
        tkhd = trak.child(b"tkhd")
        mdia = trak.child(b"mdia")
        if tkhd is None or mdia is None:
            raise FragmentError("a track has no tkhd or mdia box")
        mdhd, hdlr = mdia.child(b"mdhd"), mdia.child(b"hdlr")
        if mdhd is None or hdlr is None:
            raise FragmentError("a track has no mdhd or hdlr box")
        version = tkhd.payload[0]
        track_id = struct.unpack_from(">I", tkhd.payload, 20 if version == 1 else 12)[0]
        mdhd_version = mdhd.payload[0]
        timescale = struct.unpack_from(">I", mdhd.payload, 20 if mdhd_version == 1 else 12)[0]
        tracks.append(Track(track_id, hdlr.payload[8:12].decode("latin-1"), timescale))
    return tracks


@dataclass(frozen=True)
class TrackRun:
    """One track's samples in a fragment: where they start on its timeline and how long they last."""

    track_id: int
    decode_time: int
    duration: int
    first_sample_sync: bool


def parse_moof(moof: Box, default_durations: dict[int, int] | None = None) -> list[TrackRun]:
    """Decode time, summed sample durations and first-sample sync flag of each track fragment."""
    runs = []
    for traf in moof.children():
        if traf.type != b"traf":
            continue
        tfhd, tfdt = traf.child(b"tfhd"), traf.child(b"tfdt")
        if tfhd is None or tfdt is None:
            raise FragmentError("a track fragment has no tfhd or tfdt box")
        track_id, default_duration, default_flags = _parse_tfhd(tfhd.payload)
        if default_duration is None and default_durations:
            default_duration = default_durations.get(track_id)
        decode_time = _parse_tfdt(tfdt.payload)
        duration, first_flags = 0, None
        for trun in (b for b in traf.children() if b.type == b"trun"):
            run_duration, run_first = _parse_trun(trun.payload, default_duration or 0, default_flags)
            duration += run_duration
            first_flags = run_first if first_flags is None else first_flags
        sync = first_flags is not None and not first_flags & NON_SYNC_FLAG
        runs.append(TrackRun(track_id, decode_time, duration, sync))
    return runs


def _parse_tfhd(payload: bytes) -> tuple[int, int | None, int]:
    flags = int.from_bytes(payload[1:4], "big")
    track_id = struct.unpack_from(">I", payload, 4)[0]
    at = 8
    if flags & 0x01:
        at += 8  # base_data_offset
    if flags & 0x02:
        at += 4  # sample_description_index
    duration = None
    if flags & 0x08:
        duration = struct.unpack_from(">I", payload, at)[0]
        at += 4
    if flags & 0x10:
        at += 4  # default_sample_size
    default_flags = struct.unpack_from(">I", payload, at)[0] if flags & 0x20 else 0
    return track_id, duration, default_flags


def _parse_tfdt(payload: bytes) -> int:
    version = payload[0]
    return int(struct.unpack_from(">Q" if version == 1 else ">I", payload, 4)[0])


def _parse_trun(payload: bytes, default_duration: int, default_flags: int) -> tuple[int, int | None]:
    """Total duration of a run and the flags of its first sample."""
    flags = int.from_bytes(payload[1:4], "big")
    count = struct.unpack_from(">I", payload, 4)[0]
    at = 8
    if flags & 0x001:
        at += 4  # data_offset
    first_flags = None
    if flags & 0x004:
        first_flags = struct.unpack_from(">I", payload, at)[0]
        at += 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
    total = 0
    for index in range(count):
        sample_flags = default_flags
        for bit in fields:
            value = struct.unpack_from(">I", payload, at)[0]
            at += 4
            if bit == 0x100:
                total += value
            elif bit == 0x400:
                sample_flags = value
        if not flags & 0x100:
            total += default_duration
        if index == 0 and first_flags is None:
            first_flags = sample_flags
    return total, first_flags


def trex_defaults(moov: Box) -> dict[int, int]:
    """Default sample durations per track from moov/mvex/trex (used when tfhd and trun carry none)."""
    mvex = moov.child(b"mvex")
    defaults: dict[int, int] = {}
    for trex in mvex.children() if mvex else ():
        if trex.type == b"trex":
            track_id, _, duration = struct.unpack_from(">III", trex.payload, 4)
            defaults[track_id] = duration
    return defaults


class FragmentReader:
    """Split a fragmented MP4 byte stream into its init segment and its fragments, as they arrive."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.init: bytes | None = None
        self.tracks: list[Track] = []
        self._defaults: dict[int, int] = {}

    def read_init(self) -> bytes:
        """Boxes up to and including moov (ftyp, moov): what EXT-X-MAP points at."""
        boxes = []
        while (box := read_box(self.stream)) is not None:
            kind, data = box
            boxes.append(data)
            if kind == b"moov":
                moov = Box(kind, data[8:])
                self.tracks = parse_tracks(moov)
                self._defaults = trex_defaults(moov)
                self.init = b"".join(boxes)
                return self.init
            if kind in (b"moof", b"mdat"):
                raise FragmentError("a fragment came before the moov box (not an empty_moov stream)")
        raise FragmentError("the stream ended before its init segment")

    @property
    def clock_track(self) -> Track:
        """The track whose timeline parts are measured on: video when there is one."""
        if not self.tracks:
            raise FragmentError("no tracks in the init segment")
        return next((t for t in self.tracks if t.handler == "vide"), self.tracks[0])

    def fragments(self) -> Iterator[Fragment]:
        """Each moof + mdat pair (with any styp/sidx/prft before it) as soon as its mdat is complete."""
        if self.init is None:
            self.read_init()
        clock = self.clock_track
        pending: list[bytes] = []
        run: TrackRun | None = None
        while (box := read_box(self.stream)) is not None:
            kind, data = box
            if kind == b"moof":
                runs = parse_moof(Box(kind, data[8:]), self._defaults)
                run = next((r for r in runs if r.track_id == clock.track_id), None)
                pending.append(data)
            elif kind == b"mdat":
                pending.append(data)
                if run is None:  # no samples of the clock track: joins the next fragment
                    continue
                yield Fragment(
                    data=b"".join(pending),
                    start=run.decode_time / clock.timescale,
                    duration=run.duration / clock.timescale,
                    independent=run.first_sample_sync or clock.handler != "vide",
                )
                pending, run = [], None
            elif kind in (b"styp", b"prft", b"sidx", b"emsg"):
                pending.append(data)
            # mfra and free boxes carry nothing a player of parts needs
