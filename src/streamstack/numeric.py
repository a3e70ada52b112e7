"""Numbers that arrive as text (headers, signed-URL parameters): one strict parser for all of them.

`str.isdigit()` and `int()` accept far more than HTTP allows: superscripts (`²` passes isdigit, then int fails),
other scripts' digits (`int("١٢")` is 12), signs, spaces, underscores and thousands of digits. Only ASCII digits,
at most MAX_DIGITS of them, and a value a 64-bit catalog column holds are accepted here.
"""

from __future__ import annotations

MAX_DIGITS = 19
MAX_VALUE = 2**63 - 1


class NotANumber(ValueError):
    """The text is not a non-negative decimal integer this platform accepts."""


def parse_non_negative_int(text: str | bytes, *, what: str = "value") -> int:
    """1 to 19 ASCII digits, at most 2**63 - 1; anything else raises NotANumber naming `what`."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if not 0 < len(text) <= MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise NotANumber(f"{what} must be a non-negative integer of at most {MAX_DIGITS} ASCII digits")
    value = int(text)
    if value > MAX_VALUE:
        raise NotANumber(f"{what} must be at most {MAX_VALUE}")
    return value
