"""The SRT front on a loopback port, with a stand-in for the ingest's admission: what callers get back."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from streamstack.live.srt import (
    CONCLUSION,
    INDUCTION,
    REJECT_CONFLICT,
    REJECT_FORBIDDEN,
    REJECT_UNAUTHORIZED,
    SrtBackend,
    SrtFront,
    SrtRefused,
    parse_handshake,
)
from tests.unit.live.test_srt_handshake import handshake, stream_id_extension


def admit(stream_key: str) -> SrtBackend:
    """The ingest's part, standing in: one key is live already, one breaks, the rest are unknown."""
    if stream_key == "busy":
        raise SrtRefused("already live", REJECT_CONFLICT)
    if stream_key == "broken":
        raise RuntimeError("the catalog is down")
    raise SrtRefused("unknown stream key", REJECT_FORBIDDEN)


@pytest.fixture
def front() -> Iterator[SrtFront]:
    front = SrtFront("127.0.0.1", 0, admit)
    thread = threading.Thread(target=front.serve, daemon=True)
    thread.start()
    yield front
    front.stop()
    thread.join(timeout=5)


def exchange(caller: socket.socket, front: SrtFront, packet: bytes) -> int:
    """Send one handshake; the handshake type of the answer."""
    caller.sendto(packet, ("127.0.0.1", front.port))
    answer = parse_handshake(caller.recv(2048))
    assert answer is not None
    return answer.type


def conclusion_for(caller: socket.socket, front: SrtFront, stream_id: str) -> bytes:
    caller.sendto(handshake(INDUCTION, version=4), ("127.0.0.1", front.port))
    induction = parse_handshake(caller.recv(2048))
    assert induction is not None and induction.type == INDUCTION and induction.cookie
    return handshake(CONCLUSION, cookie=induction.cookie, extensions=stream_id_extension(stream_id))


def test_refusals_reach_the_caller_as_rejections_with_their_reason(front: SrtFront, fresh_metrics: Any) -> None:
    fresh_metrics.configure_metrics(service="ingest", enabled=True)
    for stream_id, reason in (("publish:nope", REJECT_FORBIDDEN), ("publish:busy", REJECT_CONFLICT),
                              ("publish:broken", REJECT_FORBIDDEN), ("play:x", REJECT_UNAUTHORIZED)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            caller.settimeout(5)
            kind = exchange(caller, front, conclusion_for(caller, front, stream_id))
            assert kind == 1000 + reason, stream_id
    assert front.peers == {} and front.admitting == set()
    refusals = fresh_metrics.get_registry().get_sample_value
    assert refusals("streamstack_live_publish_refusals_total", {"protocol": "srt", "reason": "key"}) == 2
    assert refusals("streamstack_live_publish_refusals_total", {"protocol": "srt", "reason": "busy"}) == 1


def test_garbage_and_forged_conclusions_get_nothing_and_leave_no_state(front: SrtFront) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        caller.settimeout(0.5)
        for size in (0, 1, 16, 63, 64, 200, 1316, 1500):
            caller.sendto(os.urandom(size), ("127.0.0.1", front.port))
        forged = handshake(CONCLUSION, cookie=12345, extensions=stream_id_extension("publish:busy"))
        caller.sendto(forged, ("127.0.0.1", front.port))
        with pytest.raises(TimeoutError):
            caller.recv(2048)
        assert front.peers == {} and front.admitting == set() and front.refused == {}
        caller.settimeout(5)
        assert exchange(caller, front, handshake(INDUCTION, version=4)) == INDUCTION, "the port still answers"
