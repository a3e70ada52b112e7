"""Property tests (hypothesis) for every parser of client-controlled header text: tus numbers and metadata,
Range, signed-URL parameters and cookies. Whatever arrives, each answers or refuses; none raises anything else."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamstack.delivery.http import RangeNotSatisfiable, parse_cookies, parse_range
from streamstack.numeric import MAX_DIGITS, MAX_VALUE, NotANumber, parse_non_negative_int
from streamstack.signed_urls import (
    QUERY_PARAMS,
    SignedCredentials,
    credentials_from_cookies,
    split_signed_query,
    verify,
)
from streamstack.uploads.service import MAX_METADATA_CHARS, UploadError, decode_metadata

HEADER_TEXT = st.text(st.characters(codec="latin-1"), max_size=64) | st.sampled_from(
    ["²", "1³", "٣", "１", "9" * 5000, "bytes=²-", "bytes=-", "bytes=0-0,1-1", " 1", "+1", "-1", "0x10"])
CLOUDFRONT_VALUE = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~", min_size=1, max_size=40)


@given(HEADER_TEXT)
def test_a_number_is_ascii_digits_of_bounded_length_or_refused(text):
    try:
        value = parse_non_negative_int(text)
    except NotANumber:
        assert not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit() and int(text) <= MAX_VALUE)
    else:
        assert text.isascii() and text.isdigit() and value == int(text) and 0 <= value <= MAX_VALUE


@given(st.integers(min_value=0, max_value=MAX_VALUE))
def test_every_64_bit_count_round_trips(value):
    assert parse_non_negative_int(str(value)) == value


@given(HEADER_TEXT, st.integers(min_value=0, max_value=10**12))
def test_range_is_served_whole_a_valid_slice_or_416(header, size):
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    assert result is None or 0 <= result[0] <= result[1] < size


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6),
       st.integers(min_value=1, max_value=10**6))
def test_a_well_formed_range_selects_the_bytes_it_names(first, last, size):
    start, end = sorted((first, last))
    try:
        assert parse_range(f"bytes={start}-{end}", size) == (start, min(end, size - 1))
    except RangeNotSatisfiable:
        assert start >= size
    assert parse_range(f"bytes=-{last}", size) == (max(0, size - last), size - 1) if last else True


@given(st.text(max_size=200))
def test_signed_query_parsing_never_raises_and_keeps_the_viewers_own_parameters(query):
    credentials, rest = split_signed_query(query)
    assert credentials is None or isinstance(credentials, SignedCredentials)
    kept = [part for part in query.split("&") if part.partition("=")[0] not in QUERY_PARAMS] if query else []
    assert rest == "&".join(kept)


@given(st.dictionaries(st.sampled_from(sorted(QUERY_PARAMS)), st.text(max_size=60), max_size=5))
def test_any_signing_parameters_are_refused_by_verify_without_raising(values):
    credentials, _ = split_signed_query("&".join(f"{name}={value}" for name, value in values.items()))
    if credentials is not None:
        assert not verify(credentials, urls=["http://edge.test/p.m3u8"], public_key=lambda _k: None, now=time.time())


@given(st.text(max_size=300))
def test_cookie_parsing_never_raises(header):
    cookies = parse_cookies(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cookies.items())
    credentials_from_cookies(cookies)


@given(CLOUDFRONT_VALUE, CLOUDFRONT_VALUE, CLOUDFRONT_VALUE, st.integers(min_value=0, max_value=2**40))
def test_cloudfront_cookies_round_trip(policy, signature, key_pair_id, expires):
    for credentials in (SignedCredentials(key_pair_id, signature, policy=policy),
                        SignedCredentials(key_pair_id, signature, expires=str(expires))):
        header = "; ".join(f"{name}={value}" for name, value in credentials.as_cookies().items())
        assert credentials_from_cookies(parse_cookies(f"other=1; {header}")) == credentials


@given(st.text(max_size=MAX_METADATA_CHARS + 50))
def test_upload_metadata_is_decoded_or_refused_as_a_400(header):
    try:
        decoded = decode_metadata(header)
    except UploadError as exc:
        assert exc.status == 400
    else:
        assert all(isinstance(value, str) for value in decoded.values())


@given(st.dictionaries(st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=20),
                       st.text(max_size=40), max_size=8))
def test_upload_metadata_round_trips(values):
    header = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
                      for key, value in values.items())
    if len(header) <= MAX_METADATA_CHARS:
        assert decode_metadata(header) == values
    else:
        with pytest.raises(UploadError):
            decode_metadata(header)
