"""Range parsing, ETag comparison and cookie parsing as the edge applies them."""

from __future__ import annotations

import pytest

from streamstack.delivery.http import RangeNotSatisfiable, etag_matches, is_plain_host, parse_cookies, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=0-1,4-5", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=9-3", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_etag_matching_is_weak():
    assert etag_matches('"a", W/"b"', '"b"') and etag_matches("*", '"x"') and not etag_matches('"a"', '"b"')


def test_cookie_values_with_cloudfront_characters_survive():
    assert parse_cookies("CloudFront-Signature=ab~c-_; other=1")["CloudFront-Signature"] == "ab~c-_"


@pytest.mark.parametrize(
    "host", [None, b"edge.test", b"edge.test:80", b"10.0.0.1:8001", b"[::1]:8001", b"cdn.example.com."]
)
def test_plain_hosts_are_accepted(host):
    assert is_plain_host(host)


@pytest.mark.parametrize(
    "host", [b"", b"edge.test/abc", b"edge.test?x", b"edge.test#", b"user@edge.test", b"edge.test:80:81", b"edge test",
             b"edge.test:123456", b"edge.test\n", b"[::1", b"*.test"]
)
def test_hosts_with_anything_but_a_name_and_port_are_refused(host):
    assert not is_plain_host(host)
