"""The relay's FLV, fanned out on loopback pipes to the restreams (simulcast) of whichever protocol brought it in.

Both ingests end in the same relay (RTMP pulled from nginx, SRT listened for) remuxing the publisher to
FLV for the encoder; the session's pump also feeds it here. A restream that joins mid-stream gets what a
player joining nginx would: the FLV header, `onMetaData` and the codec configuration, then the tags from
the next video keyframe on. A restream that cannot keep up is dropped (its ffmpeg sees the end of its
input, the target retries), so no target can ever slow the encoder down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamstack.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO

FLV_HEADER_BYTES = 13  # the 9-byte header and the first PreviousTagSize
TAG_HEADER_BYTES, TAG_TRAILER_BYTES = 11, 4
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size: a few seconds of a live stream
MAX_PENDING_BYTES = 8 << 20  # a restream this far behind is dropped
FRAME_KEY, CODEC_AVC, CODEC_AAC, CONFIG_PACKET = 1, 7, 10, 0


def is_config_tag(kind: int, body: bytes) -> bool:
    """Metadata and decoder configuration (AVC sequence header, AAC AudioSpecificConfig): every joiner needs them."""
    if kind == TAG_SCRIPT:
        return True
    if len(body) < 2:
        return False
    if kind == TAG_VIDEO:
        return body[0] & 0x0F == CODEC_AVC and body[1] == CONFIG_PACKET
    return kind == TAG_AUDIO and body[0] >> 4 == CODEC_AAC and body[1] == CONFIG_PACKET


def is_keyframe(kind: int, body: bytes) -> bool:
    return kind == TAG_VIDEO and bool(body) and body[0] >> 4 == FRAME_KEY


@dataclass
class Subscriber:
    """One restream's pipe: what it has not taken yet, and whether it has reached a keyframe."""

    fd: int
    joined: bool = False
    pending: bytearray = field(default_factory=bytearray)

    def send(self, data: bytes) -> bool:
        """Queue and write what the pipe takes now; False when the reader is gone or too far behind."""
        self.pending += data
        try:
            while self.pending:
                written = os.write(self.fd, self.pending)
                del self.pending[:written]
        except BlockingIOError:
            return len(self.pending) <= MAX_PENDING_BYTES
        except OSError:  # the restream ended (EPIPE)
            return False
        return True


@dataclass
class FlvFanout:
    """One session's fan-out; `start` and `close` bracket each publisher connection.

    It also learns when the connection's media time 0 was on the wall clock (`media_origin`): the earliest
    arrival of an audio or video tag less its timestamp, i.e. the tag the relay passed on with the least delay
    after its capture (a tag read while the relay was still analysing its input arrives late and does not count).
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.time
    media_origin: float | None = None  # wall clock (epoch seconds) of the current connection's media time 0
    live: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    head: bytearray = field(default_factory=bytearray)  # header, metadata, codec configuration
    subscribers: list[Subscriber] = field(default_factory=list)

    def start(self) -> None:
        with self.lock:
            self._drop_all()
            self.live, self.buffer, self.head, self.media_origin = True, bytearray(), bytearray(), None

    def close(self) -> None:
        """The connection ended: every restream sees the end of its input."""
        with self.lock:
            self.live = False
            self._drop_all()

    def subscribe(self) -> int:
        """A pipe's read end for a restream's stdin (the caller closes it once handed over); at its end
        at once when no publisher is connected."""
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # pipe-max-size may be lower
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(write_end, False)
        with self.lock:
            subscriber = Subscriber(write_end)
            if self.live and subscriber.send(bytes(self.head)):
                self.subscribers.append(subscriber)
            else:
                os.close(write_end)
        return read_end

    def feed(self, chunk: bytes) -> None:
        """The relay's next bytes: whole tags go to the restreams, a partial one waits for the rest."""
        arrived = self.clock()
        with self.lock:
            if not self.live:
                return
            self.buffer += chunk
            self._keep(lambda subscriber: subscriber.send(b""))  # what the pipes took since the last chunk
            if len(self.head) < FLV_HEADER_BYTES:
                taken = min(FLV_HEADER_BYTES - len(self.head), len(self.buffer))
                self._to_all(bytes(self.buffer[:taken]), config=True)
                del self.buffer[:taken]
            while len(self.buffer) >= TAG_HEADER_BYTES:
                size = int.from_bytes(self.buffer[1:4], "big")
                end = TAG_HEADER_BYTES + size + TAG_TRAILER_BYTES
                if len(self.buffer) < end:
                    break
                tag = bytes(self.buffer[:end])
                del self.buffer[:end]
                self._date(tag, arrived)
                self._route(tag[0] & 0x1F, tag)

    def _date(self, tag: bytes, arrived: float) -> None:
        if tag[0] & 0x1F not in (TAG_AUDIO, TAG_VIDEO):
            return
        milliseconds = int.from_bytes(tag[4:7], "big") | tag[7] << 24  # 24 bits, then the extension byte on top
        origin = arrived - milliseconds / 1000
        if self.media_origin is None or origin < self.media_origin:
            self.media_origin = origin

    def _route(self, kind: int, tag: bytes) -> None:
        body = tag[TAG_HEADER_BYTES : TAG_HEADER_BYTES + 2]
        if is_config_tag(kind, body):
            self._to_all(tag, config=True)
            return
        if is_keyframe(kind, body):
            for subscriber in self.subscribers:
                subscriber.joined = True
        self._to_all(tag, config=False)

    def _to_all(self, data: bytes, *, config: bool) -> None:
        if config:
            self.head += data
        self._keep(lambda subscriber: not (config or subscriber.joined) or subscriber.send(data))

    def _keep(self, alive: Callable[[Subscriber], bool]) -> None:
        """Drop (close) the subscribers for which `alive` says False."""
        keep = []
        for subscriber in self.subscribers:
            if alive(subscriber):
                keep.append(subscriber)
            else:
                os.close(subscriber.fd)
        self.subscribers = keep

    def _drop_all(self) -> None:
        for subscriber in self.subscribers:
            os.close(subscriber.fd)
        self.subscribers = []
