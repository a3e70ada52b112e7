"""The one strict parser for numbers that arrive as text: ASCII digits, bounded length, a 64-bit value."""

from __future__ import annotations

import pytest

from streamstack.numeric import MAX_VALUE, NotANumber, parse_non_negative_int


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("007", 7), ("1234", 1234), (str(MAX_VALUE), MAX_VALUE),
                                             (b"42", 42)])
def test_ascii_digits_are_numbers(text, value):
    assert parse_non_negative_int(text) == value


@pytest.mark.parametrize("text", ["", "²", "1³", "٣", "１", "9" * 5000, str(MAX_VALUE + 1), "1" * 20, "-1", "+1",
                                  " 1", "1 ", "1_000", "0x1f", "1.0", "1e3", b"\xb2"])
def test_everything_else_is_refused_with_what_it_was(text):
    with pytest.raises(NotANumber, match="Upload-Length"):
        parse_non_negative_int(text, what="Upload-Length")
