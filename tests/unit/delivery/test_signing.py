"""CloudFront signing primitives: base64 alphabet, policy text, wildcard matching, parameter parsing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from streamstack.signed_urls import (
    SignedCredentials,
    build_policy,
    cloudfront_b64decode,
    cloudfront_b64encode,
    credentials_from_cookies,
    resource_matches,
    sign,
    split_signed_query,
    verify,
)


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def public_pem(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_base64_uses_cloudfronts_alphabet():
    data = bytes([0xFB, 0xFF, 0xBF, 0x00])  # standard base64: +/+/AA==
    encoded = cloudfront_b64encode(data)
    assert encoded == "-~-~AA__"
    assert cloudfront_b64decode(encoded) == data
    with pytest.raises(ValueError):
        cloudfront_b64decode("not base64!")


def test_canned_policy_text_is_exactly_cloudfronts():
    assert build_policy("https://d111111abcdef8.cloudfront.net/horizon.jpg?size=large", 1357034400) == (
        '{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/horizon.jpg?size=large",'
        '"Condition":{"DateLessThan":{"AWS:EpochTime":1357034400}}}]}'
    )


@pytest.mark.parametrize(
    ("resource", "url", "expected"),
    [
        ("https://e/abc*", "https://e/abc.m3u8", True),
        ("https://e/abc*", "https://e/abc/720p/seg_1.m4s?x=1", True),
        ("https://e/abc*", "https://e/abd.m3u8", False),
        ("https://e/a?c.m3u8", "https://e/abc.m3u8", True),
        ("https://e/a?c.m3u8", "https://e/ac.m3u8", False),
        ("https://e/a.c", "https://e/abc", False),  # '.' is literal
        ("http*://e/*", "https://e/x", True),
    ],
)
def test_wildcards(resource, url, expected):
    assert resource_matches(resource, url) is expected


def test_split_signed_query_keeps_the_viewers_own_parameters_in_order():
    credentials, rest = split_signed_query("b=2&Expires=10&a=1&Signature=s~-_&Key-Pair-Id=K1")
    assert rest == "b=2&a=1"
    assert credentials == SignedCredentials("K1", "s~-_", expires="10")
    assert split_signed_query("a=1") == (None, "a=1")
    assert split_signed_query("Expires=1&Policy=p&Signature=s&Key-Pair-Id=K")[0] is None  # ambiguous
    assert split_signed_query("Signature=s&Key-Pair-Id=K")[0] is None  # incomplete


def test_cookies_and_query_carry_the_same_credentials():
    credentials = SignedCredentials("K1", "sig", policy="pol")
    assert credentials_from_cookies(credentials.as_cookies()) == credentials
    assert credentials.as_query() == "Policy=pol&Signature=sig&Key-Pair-Id=K1"


def test_verify_checks_time_window_and_address(pem, public_pem):
    policy = build_policy("https://e/p*", 200, date_greater_than=100, ip_address="10.0.0.0/8")
    credentials = sign(policy, key_pair_id="K1", private_key_pem=pem, kind="custom")
    keys = {"K1": public_pem}.get

    def check(now: float, ip: str | None = "10.1.2.3", url: str = "https://e/p.m3u8") -> bool:
        return verify(credentials, urls=[url], public_key=keys, now=now, client_ip=ip)

    assert check(150)
    assert not check(99) and not check(200)
    assert not check(150, ip="192.168.0.1") and not check(150, ip=None)
    assert not check(150, url="https://e/q.m3u8")
    assert not verify(credentials, urls=["https://e/p.m3u8"], public_key={}.get, now=150, client_ip="10.0.0.1")


def test_canned_verification_rebuilds_the_policy_from_the_url(pem, public_pem):
    credentials = sign(build_policy("https://e/p.m3u8", 200), key_pair_id="K1", private_key_pem=pem, kind="canned")
    assert credentials.expires == "200" and credentials.policy is None
    keys = {"K1": public_pem}.get
    assert verify(credentials, urls=["https://other/p.m3u8", "https://e/p.m3u8"], public_key=keys, now=100)
    assert not verify(credentials, urls=["https://e/p.m3u8?x=1"], public_key=keys, now=100)


def test_percent_encoded_signature_characters_are_decoded():
    from streamstack.signed_urls import split_signed_query

    plain, _ = split_signed_query("Expires=1700000000&Signature=ab~cd-ef_&Key-Pair-Id=K1")
    encoded, _ = split_signed_query("Expires=1700000000&Signature=ab%7Ecd-ef_&Key-Pair-Id=K1")
    assert encoded == plain
