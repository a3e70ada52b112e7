"""Caption parsing and SRT -> WebVTT conversion: faithful text and times, precise refusals."""

from __future__ import annotations

import codecs

import pytest

from streamstack.media.captions import (
    MAX_CAPTION_BYTES,
    CaptionError,
    format_timestamp,
    parse_captions,
    srt_text_to_webvtt,
    to_webvtt,
)

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello, <i>world</i> & friends

2
00:00:03,250 --> 00:01:04,005
<font color="#ff0000">Red</font> <b>bold</b>
second line

3
01:02:03,4 --> 01:02:05.120
{\\an8}Top of the frame: 1 < 2 -> true
"""


def test_srt_is_converted_faithfully_to_webvtt() -> None:
    captions = parse_captions(SRT.encode())
    assert captions.format == "srt"
    assert [(c.start, c.end) for c in captions.cues] == [(1.0, 2.5), (3.25, 64.005), (3723.4, 3725.12)]
    assert to_webvtt(captions) == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.500\n"
        "Hello, <i>world</i> &amp; friends\n\n"
        "00:00:03.250 --> 00:01:04.005\n"
        "Red <b>bold</b>\nsecond line\n\n"
        "01:02:03.400 --> 01:02:05.120 line:0\n"
        "Top of the frame: 1 &lt; 2 -&gt; true\n"
    )


def test_the_converted_file_parses_back_as_webvtt_with_the_same_cues() -> None:
    converted = parse_captions(SRT.encode())
    again = parse_captions(to_webvtt(converted).encode())
    assert again.format == "webvtt"
    assert [(c.start, c.end, c.text) for c in again.cues] == [(c.start, c.end, c.text) for c in converted.cues]


def test_windows_line_endings_bom_and_utf16_are_read() -> None:
    crlf = SRT.replace("\n", "\r\n")
    for data in (codecs.BOM_UTF8 + crlf.encode(), crlf.encode("utf-16")):
        assert len(parse_captions(data).cues) == 3


def test_srt_cues_out_of_order_are_sorted_and_blank_lines_inside_text_stay_with_their_cue() -> None:
    text = "2\n00:00:05,000 --> 00:00:06,000\nlater\n\n1\n00:00:01,000 --> 00:00:02,000\nfirst\n\nstill first\n"
    cues = parse_captions(text.encode()).cues
    assert [(c.start, c.text) for c in cues] == [(1.0, "first\nstill first"), (5.0, "later")]


def test_webvtt_keeps_identifiers_settings_and_style_blocks_and_drops_notes() -> None:
    vtt = ("WEBVTT - made by hand\n\nSTYLE\n::cue { color: yellow }\n\nNOTE a comment\n\n"
           "intro\n00:01.000 --> 00:02.000 align:start line:10%\n<v Ann>Hi & bye</v>\n\n"
           "00:00:03.000 --> 00:00:04.000\nthere\n")
    captions = parse_captions(vtt.encode())
    assert captions.blocks == ("STYLE\n::cue { color: yellow }",)
    first = captions.cues[0]
    assert (first.identifier, first.start, first.settings, first.text) == (
        "intro", 1.0, "align:start line:10%", "<v Ann>Hi & bye</v>")
    out = to_webvtt(captions)
    assert "NOTE" not in out and "intro\n00:00:01.000 --> 00:00:02.000 align:start line:10%\n" in out


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_captions", "binary"),
        (b"Just some notes\nabout the film\n", "not_captions", "neither WebVTT"),
        (b"<?xml version='1.0'?><tt xmlns='http://www.w3.org/ns/ttml'/>", "not_captions", "neither WebVTT"),
        ("1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9\n".encode("latin-1"), "bad_encoding", "line 3"),
        (b"1\n00:00:05,000 --> 00:00:04,000\nbackwards\n", "bad_timing", "Line 2"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 --> 00:61:00,000\nbad\n", "bad_timing",
         "Line 6"),
        (b"WEBVTT\n\n00:00:01,000 --> 00:00:02,000\ncomma in WebVTT\n", "bad_timing", "'00:00:01,000'"),
        (b"WEBVTT\n\nintro\nno timing here\n", "bad_timing", "Line 4"),
        (b"WEBVTT\n", "no_cues", "no cues"),
        (b"WEBVTT\n00:00:01.000 --> 00:00:02.000\nno blank line\n", "not_captions", "blank line"),
    ],
)
def test_bad_files_get_a_precise_error(data: bytes, code: str, words: str) -> None:
    with pytest.raises(CaptionError) as caught:
        parse_captions(data)
    assert caught.value.code == code
    assert words in str(caught.value)


def test_oversized_files_are_refused_before_parsing() -> None:
    with pytest.raises(CaptionError) as caught:
        parse_captions(b"WEBVTT\n\n" + b"x" * MAX_CAPTION_BYTES)
    assert caught.value.code == "too_large"


def test_srt_tags_without_a_webvtt_meaning_are_dropped_and_entities_kept() -> None:
    assert srt_text_to_webvtt(["<U>u</U> &amp; <s>gone</s> {\\i1}x"]) == ("<u>u</u> &amp; gone x", "")


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00:00.000"), (61.5, "00:01:01.500"),
                                                (36000.0004, "10:00:00.000"), (3599.9996, "01:00:00.000")])
def test_timestamps_are_formatted_for_webvtt(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text
