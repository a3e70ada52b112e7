"""SRT ingest front: admit each caller by the stream key in its Stream ID, then relay it to an ffmpeg listener.

ffmpeg's libsrt listener takes one caller and accepts any Stream ID, so it cannot tell publishers
apart on one public port. This front reads only the handshake (draft-sharabayko-srt §3.2.1, §4.3.1):
it answers a caller's INDUCTION itself with a stateless cookie, reads the Stream ID extension of its
CONCLUSION and asks the ingest to admit the key. An admitted caller gets an ffmpeg SRT listener of its
own on a loopback port (started by the ingest, with the stream's passphrase): the front repeats the
induction with it, forwards the caller's conclusion carrying that listener's cookie, and from then on
copies datagrams both ways untouched. libsrt on both ends does everything else: the passphrase check,
AES, retransmission, keep-alives. A refused caller gets a rejection handshake; datagrams from unknown
addresses that are not a valid handshake are dropped, so garbage never reaches a session.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import queue
import selectors
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamstack.observability import metrics

log = logging.getLogger("streamstack.live")

HEADER_BYTES = 16
HANDSHAKE_BYTES = HEADER_BYTES + 48  # the fixed handshake CIF; extensions follow
INDUCTION, CONCLUSION = 1, 0xFFFFFFFF
REJECTION_BASE = 1000  # a handshake type of 1000 + reason is a rejection (§4.3, Table 7)
SRT_MAGIC = 0x4A17
EXTENSION_STREAM_ID = 5
REJECT_UNAUTHORIZED, REJECT_FORBIDDEN, REJECT_CONFLICT = 1401, 1403, 1409  # SRT_REJX_* (access control)
SHUTDOWN_TYPE = 5
MAX_PEERS = 64
PEER_IDLE_SECONDS = 30.0
BACKEND_INDUCTION_SECONDS = 0.1
REFUSAL_MEMORY_SECONDS = 5.0


class SrtRefused(PermissionError):
    """The caller is refused; `reason` is the SRT rejection code it receives."""

    def __init__(self, message: str, reason: int = REJECT_FORBIDDEN) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Handshake:
    type: int
    socket_id: int
    cookie: int
    stream_id: str | None


@dataclass(frozen=True)
class SrtBackend:
    """Where an admitted caller goes: the loopback port of its own ffmpeg listener, and that process."""

    port: int
    relay: subprocess.Popen[bytes]


Admit = Callable[[str], SrtBackend]  # raises SrtRefused


def parse_handshake(packet: bytes) -> Handshake | None:
    """The handshake in a datagram, or None when it is anything else (data, other control, garbage)."""
    if len(packet) < HANDSHAKE_BYTES or packet[0] != 0x80 or packet[1] != 0x00 or packet[2:4] != b"\0\0":
        return None
    kind, socket_id, cookie = struct.unpack_from("!III", packet, HEADER_BYTES + 20)
    return Handshake(kind, socket_id, cookie, _stream_id(packet) if kind == CONCLUSION else None)


def _stream_id(packet: bytes) -> str | None:
    """The Stream ID extension: a string sent as 32-bit words, each in little-endian byte order."""
    offset = HANDSHAKE_BYTES
    while offset + 4 <= len(packet):
        kind, words = struct.unpack_from("!HH", packet, offset)
        content = packet[offset + 4:offset + 4 + 4 * words]
        if kind == EXTENSION_STREAM_ID:
            raw = b"".join(content[i:i + 4][::-1] for i in range(0, len(content), 4))
            return raw.rstrip(b"\0").decode("utf-8", errors="replace")
        offset += 4 + 4 * words
    return None


def stream_key_of(stream_id: str | None) -> str:
    """`publish:KEY` (what srt_url carries), or the access-control form `#!::r=KEY,m=publish`."""
    if not stream_id:
        raise SrtRefused("no stream id", REJECT_UNAUTHORIZED)
    if stream_id.startswith("#!::"):
        fields = dict(item.partition("=")[::2] for item in stream_id[4:].split(","))
        if fields.get("m", "publish") != "publish":
            raise SrtRefused("only publishing is allowed", REJECT_FORBIDDEN)
        return fields.get("r", "")
    mode, sep, key = stream_id.partition(":")
    if not sep or mode != "publish":
        raise SrtRefused("stream id is not publish:KEY", REJECT_UNAUTHORIZED)
    return key


def induction_response(request: bytes, cookie: int, listener_id: int) -> bytes:
    """The listener's answer to an INDUCTION: HSv5 with the SRT magic and our cookie."""
    response = bytearray(request[:HANDSHAKE_BYTES])
    caller_id = struct.unpack_from("!I", request, HEADER_BYTES + 24)[0]
    struct.pack_into("!I", response, 12, caller_id)
    struct.pack_into("!IHH", response, HEADER_BYTES, 5, 0, SRT_MAGIC)
    struct.pack_into("!II", response, HEADER_BYTES + 24, listener_id, cookie)
    return bytes(response)


def rejection(request: bytes, reason: int) -> bytes:
    """A handshake whose type is the rejection code: the caller stops and reports it."""
    response = bytearray(request[:HANDSHAKE_BYTES])
    caller_id = struct.unpack_from("!I", request, HEADER_BYTES + 24)[0]
    struct.pack_into("!I", response, 12, caller_id)
    struct.pack_into("!I", response, HEADER_BYTES + 20, REJECTION_BASE + reason)
    return bytes(response)


def with_cookie(conclusion: bytes, cookie: int) -> bytes:
    """The caller's conclusion, addressed to a listener (socket 0) with that listener's cookie."""
    packet = bytearray(conclusion)
    struct.pack_into("!I", packet, 12, 0)
    struct.pack_into("!I", packet, HEADER_BYTES + 28, cookie)
    return bytes(packet)


def backend_induction(conclusion: bytes) -> bytes:
    """An INDUCTION for the session's listener, as the caller would have sent it (HSv4, socket and ISN kept)."""
    packet = bytearray(conclusion[:HANDSHAKE_BYTES])
    struct.pack_into("!I", packet, 12, 0)
    struct.pack_into("!IHH", packet, HEADER_BYTES, 4, 0, 2)
    struct.pack_into("!I", packet, HEADER_BYTES + 20, INDUCTION)
    struct.pack_into("!I", packet, HEADER_BYTES + 28, 0)
    return bytes(packet)


def shutdown(caller_id: int) -> bytes:
    """A SHUTDOWN control packet: the session's listener is gone, the caller stops at once."""
    return struct.pack("!HHIII", 0x8000 | SHUTDOWN_TYPE, 0, 0, 0, caller_id) + b"\0\0\0\0"


@dataclass
class Peer:
    """One admitted caller: its relay socket to the session's listener and the handshake still in flight."""

    address: tuple[str, int]
    caller_id: int
    conclusion: bytes
    backend: SrtBackend | None = None
    upstream: socket.socket | None = None
    backend_cookie: int | None = None
    last_induction: float = 0.0
    last_seen: float = field(default_factory=time.monotonic)


class SrtFront:
    """The public SRT port: handshakes are read here; admitted connections are copied to loopback listeners."""

    def __init__(self, host: str, port: int, admit: Admit) -> None:
        self.admit = admit
        self.public = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.public.bind((host, port))
        self.public.setblocking(False)
        self.secret = os.urandom(32)
        self.listener_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF or 1
        self.peers: dict[tuple[str, int], Peer] = {}
        self.admitting: set[tuple[str, int]] = set()
        self.refused: dict[tuple[str, int], tuple[float, bytes]] = {}
        self.admitted: queue.SimpleQueue[tuple[tuple[str, int], bytes, SrtBackend | bytes]] = queue.SimpleQueue()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.public, selectors.EVENT_READ, None)
        self.stopping, self.stopped = threading.Event(), threading.Event()
        self.datagrams = 0  # copied for admitted callers, both ways (bench/srt_front.py)

    @property
    def port(self) -> int:
        return int(self.public.getsockname()[1])

    def cookie(self, address: tuple[str, int], minute: int | None = None) -> int:
        """A SYN cookie bound to the caller's address and the minute: no state is kept before a conclusion."""
        minute = int(time.time() // 60) if minute is None else minute
        digest = hmac.new(self.secret, f"{address[0]}:{address[1]}:{minute}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big")

    def serve(self) -> None:
        """The loop of the front (one thread): datagrams, finished admissions, ended relays; until `stop`."""
        try:
            while not self.stopping.is_set():
                try:
                    self._turn()
                except Exception:  # noqa: BLE001 - one bad turn must not close the port to every publisher
                    log.warning("SRT front: a turn of its loop failed; it goes on", exc_info=True)
        finally:
            for peer in list(self.peers.values()):
                self._drop(peer, notify=True)
            self.selector.close()
            self.public.close()
            self.stopped.set()

    def _turn(self) -> None:
        for key, _ in self.selector.select(timeout=0.05):
            peer: Peer | None = key.data
            with contextlib.suppress(OSError):  # would-block, or ICMP unreachable from a listener gone
                if peer is None:
                    self._from_caller(*self.public.recvfrom(65536))
                else:
                    self._from_backend(peer, key.fileobj.recv(65536))  # type: ignore[union-attr]
        self._finish_admissions()
        self._tend()

    def stop(self) -> None:
        self.stopping.set()
        self.stopped.wait(timeout=5)

    def _send(self, packet: bytes, address: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # a caller gone or unreachable is not the front's problem
            self.public.sendto(packet, address)

    # --- from the caller ---------------------------------------------------------------------------
    def _from_caller(self, packet: bytes, address: tuple[str, int]) -> None:
        peer = self.peers.get(address)
        if peer is not None:
            peer.last_seen = time.monotonic()
            self.datagrams += 1
            self._to_backend(peer, packet)
            return
        handshake = parse_handshake(packet)
        if handshake is None:
            return  # not ours and not a handshake: garbage is dropped here
        if handshake.type == INDUCTION:
            self._send(induction_response(packet, self.cookie(address), self.listener_id), address)
        elif handshake.type == CONCLUSION and self._cookie_valid(address, handshake.cookie):
            self._conclusion(packet, address, handshake)

    def _cookie_valid(self, address: tuple[str, int], cookie: int) -> bool:
        minute = int(time.time() // 60)
        return any(hmac.compare_digest(self.cookie(address, m).to_bytes(4, "big"), cookie.to_bytes(4, "big"))
                   for m in (minute, minute - 1))  # fmt: skip

    def _conclusion(self, packet: bytes, address: tuple[str, int], handshake: Handshake) -> None:
        refused = self.refused.get(address)
        if refused is not None and refused[0] > time.monotonic():
            self._send(refused[1], address)
            return
        if address in self.admitting or len(self.peers) + len(self.admitting) >= MAX_PEERS:
            return  # a retransmitted conclusion while the ingest decides (or too many callers): the caller retries
        self.admitting.add(address)
        threading.Thread(target=self._admit, args=(address, packet, handshake.stream_id),
                         name="srt-admit", daemon=True).start()  # fmt: skip

    def _admit(self, address: tuple[str, int], packet: bytes, stream_id: str | None) -> None:
        """Runs off the loop (a catalog read, an ffmpeg start): the loop keeps serving everyone else."""
        try:
            self.admitted.put((address, packet, self.admit(stream_key_of(stream_id))))
        except SrtRefused as exc:
            log.warning("SRT publish refused from %s: %s", address[0], exc)
            metrics.count_live_refusal("srt", "busy" if exc.reason == REJECT_CONFLICT else "key")
            self.admitted.put((address, packet, rejection(packet, exc.reason)))
        except Exception:  # noqa: BLE001 - a failed admission refuses this caller and nothing else
            log.warning("SRT admission failed for %s", address[0], exc_info=True)
            self.admitted.put((address, packet, rejection(packet, REJECT_FORBIDDEN)))

    def _finish_admissions(self) -> None:
        while True:
            try:
                address, packet, outcome = self.admitted.get_nowait()
            except queue.Empty:
                return
            self.admitting.discard(address)
            if isinstance(outcome, bytes):
                self.refused[address] = (time.monotonic() + REFUSAL_MEMORY_SECONDS, outcome)
                self._send(outcome, address)
                continue
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.connect(("127.0.0.1", outcome.port))  # one socket per caller: the listener sees one peer
            upstream.setblocking(False)
            caller_id = struct.unpack_from("!I", packet, HEADER_BYTES + 24)[0]
            peer = Peer(address, caller_id, packet, outcome, upstream)
            self.peers[address] = peer
            self.selector.register(upstream, selectors.EVENT_READ, peer)
            self._induct(peer)

    # --- to and from the session's listener --------------------------------------------------------
    def _to_backend(self, peer: Peer, packet: bytes) -> None:
        handshake = parse_handshake(packet)
        if handshake is not None and handshake.type == CONCLUSION:
            peer.conclusion = packet
            if peer.backend_cookie is None:
                return  # sent once the listener has answered our induction
            packet = with_cookie(packet, peer.backend_cookie)
        elif peer.backend_cookie is None:
            return
        assert peer.upstream is not None
        peer.upstream.send(packet)

    def _induct(self, peer: Peer) -> None:
        """(Again) ask the session's listener for its cookie: it may still be starting."""
        assert peer.upstream is not None
        peer.last_induction = time.monotonic()
        with contextlib.suppress(OSError):
            peer.upstream.send(backend_induction(peer.conclusion))

    def _from_backend(self, peer: Peer, packet: bytes) -> None:
        handshake = parse_handshake(packet)
        if handshake is not None and handshake.type == INDUCTION and peer.backend_cookie is None:
            peer.backend_cookie = handshake.cookie
            self._to_backend(peer, peer.conclusion)
            return
        self.datagrams += 1
        self._send(packet, peer.address)
        if handshake is not None and REJECTION_BASE <= handshake.type < CONCLUSION - 16:
            log.warning("SRT publish refused from %s by its listener (passphrase?)", peer.address[0])
            metrics.count_live_refusal("srt", "passphrase")
            self._drop(peer, notify=False)

    def _tend(self) -> None:
        """Induct listeners still starting; drop peers whose relay ended or that went quiet."""
        now = time.monotonic()
        self.refused = {a: r for a, r in self.refused.items() if r[0] > now}
        for peer in list(self.peers.values()):
            assert peer.backend is not None
            if peer.backend.relay.poll() is not None or now - peer.last_seen > PEER_IDLE_SECONDS:
                self._drop(peer, notify=True)
            elif peer.backend_cookie is None and now - peer.last_induction > BACKEND_INDUCTION_SECONDS:
                self._induct(peer)

    def _drop(self, peer: Peer, *, notify: bool) -> None:
        """Forget the caller, end its relay; tell the caller when the session ended on our side."""
        self.peers.pop(peer.address, None)
        if peer.upstream is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(peer.upstream)
            peer.upstream.close()
        if peer.backend is not None and peer.backend.relay.poll() is None:
            peer.backend.relay.kill()
        if notify:
            self._send(shutdown(peer.caller_id), peer.address)


def free_udp_port() -> int:
    """A free loopback UDP port for a session's listener."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
