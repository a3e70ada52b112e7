"""The SRT front's handshake reading (draft-sharabayko-srt §3.2.1): what it admits on, and what it drops."""

from __future__ import annotations

import os
import struct

import pytest

from streamstack.live.srt import (
    CONCLUSION,
    INDUCTION,
    REJECT_UNAUTHORIZED,
    SRT_MAGIC,
    SrtRefused,
    backend_induction,
    induction_response,
    parse_handshake,
    rejection,
    stream_key_of,
    with_cookie,
)

CALLER_ID = 0x1234ABCD


def handshake(kind: int, *, cookie: int = 0, extensions: bytes = b"", version: int = 5) -> bytes:
    header = struct.pack("!HHIII", 0x8000, 0, 0, 0, 0)
    cif = struct.pack("!IHHIIIIII", version, 0, 2, 777, 1500, 8192, kind, CALLER_ID, cookie) + bytes(16)
    return header + cif + extensions


def stream_id_extension(text: str) -> bytes:
    """As libsrt writes it: the string padded to 32-bit words, each word's bytes in little-endian order."""
    raw = text.encode() + b"\0" * (-len(text) % 4)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return struct.pack("!HH", 5, len(words) // 4) + words


def test_the_stream_id_is_read_from_the_conclusion_among_other_extensions() -> None:
    hsreq = struct.pack("!HH", 1, 3) + bytes(12)
    packet = handshake(CONCLUSION, cookie=99, extensions=hsreq + stream_id_extension("publish:Key_with-odd.len"))
    parsed = parse_handshake(packet)
    assert parsed is not None and parsed.type == CONCLUSION and parsed.cookie == 99
    assert parsed.socket_id == CALLER_ID and parsed.stream_id == "publish:Key_with-odd.len"
    assert stream_key_of(parsed.stream_id) == "Key_with-odd.len"


@pytest.mark.parametrize("garbage", [b"", b"\x80", os.urandom(63), b"\x00" * 64, b"\x80\x02" + bytes(62),
                                     b"\x80\x00\x00\x01" + bytes(60)])
def test_anything_but_a_handshake_is_not_one(garbage: bytes) -> None:
    assert parse_handshake(garbage) is None


def test_stream_key_forms() -> None:
    assert stream_key_of("publish:abc") == "abc"
    assert stream_key_of("#!::r=abc,m=publish") == "abc"
    for refused in (None, "", "abc", "play:abc", "#!::r=abc,m=request"):
        with pytest.raises(SrtRefused):
            stream_key_of(refused)


def test_the_induction_answer_is_hsv5_with_the_magic_and_our_cookie() -> None:
    answer = induction_response(handshake(INDUCTION, version=4), cookie=0xCAFE, listener_id=42)
    version, _, extension = struct.unpack_from("!IHH", answer, 16)
    assert (version, extension) == (5, SRT_MAGIC)
    assert struct.unpack_from("!I", answer, 12)[0] == CALLER_ID, "addressed to the caller's socket"
    parsed = parse_handshake(answer)
    assert parsed is not None and parsed.type == INDUCTION and parsed.cookie == 0xCAFE and parsed.socket_id == 42


def test_a_refusal_is_a_rejection_handshake_with_the_reason() -> None:
    parsed = parse_handshake(rejection(handshake(CONCLUSION), REJECT_UNAUTHORIZED))
    assert parsed is not None and parsed.type == 1000 + REJECT_UNAUTHORIZED


def test_the_conclusion_reaches_the_listener_with_its_own_cookie_and_nothing_else_changed() -> None:
    conclusion = handshake(CONCLUSION, cookie=1, extensions=stream_id_extension("publish:k"))
    forwarded = with_cookie(conclusion, 0xBEEF)
    assert parse_handshake(forwarded).cookie == 0xBEEF  # type: ignore[union-attr]
    assert forwarded[:44] == conclusion[:44] and forwarded[48:] == conclusion[48:]
    induction = parse_handshake(backend_induction(conclusion))
    assert induction is not None and induction.type == INDUCTION and induction.socket_id == CALLER_ID
    assert induction.cookie == 0
