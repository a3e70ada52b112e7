"""CloudFront-compatible signed URLs and cookies: byte-for-byte the formats CloudFront documents.

The same code signs (API tokens) and verifies (the edge), so a URL from `botocore.signers.CloudFrontSigner`
is accepted here and a URL signed here is accepted by CloudFront.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from streamstack.numeric import parse_non_negative_int

PolicyKind = Literal["canned", "custom"]

EXPIRES, POLICY, SIGNATURE, KEY_PAIR_ID, HASH_ALGORITHM = (
    "Expires",
    "Policy",
    "Signature",
    "Key-Pair-Id",
    "Hash-Algorithm",
)
QUERY_PARAMS = frozenset({EXPIRES, POLICY, SIGNATURE, KEY_PAIR_ID, HASH_ALGORITHM})
COOKIE_PREFIX = "CloudFront-"
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256}

PublicKeyLookup = Callable[[str], str | None]
"""Key-Pair-Id -> public key PEM of an active (registered, unrevoked) key, or None."""


def cloudfront_b64encode(data: bytes) -> str:
    """CloudFront's URL-safe base64: + -> -, = -> _, / -> ~ (not RFC 4648's urlsafe alphabet)."""
    return base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")


def cloudfront_b64decode(text: str) -> bytes:
    """Inverse of cloudfront_b64encode; raises ValueError on anything malformed."""
    standard = text.replace("-", "+").replace("_", "=").replace("~", "/")
    try:
        return base64.b64decode(standard, validate=True)
    except binascii.Error as exc:
        raise ValueError("malformed CloudFront base64") from exc


def build_policy(
    resource: str, date_less_than: int, *, date_greater_than: int | None = None, ip_address: str | None = None
) -> str:
    """A policy in the compact key order botocore uses; with only DateLessThan it is the canned one."""
    condition: dict[str, Any] = {"DateLessThan": {"AWS:EpochTime": int(date_less_than)}}
    if ip_address:
        condition["IpAddress"] = {"AWS:SourceIp": ip_address if "/" in ip_address else f"{ip_address}/32"}
    if date_greater_than is not None:
        condition["DateGreaterThan"] = {"AWS:EpochTime": int(date_greater_than)}
    return json.dumps({"Statement": [{"Resource": resource, "Condition": condition}]}, separators=(",", ":"))


@lru_cache(maxsize=64)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parsing a PEM costs far more than a signature, so parsed keys are kept."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("CloudFront signing keys are RSA keys")
    return key


@lru_cache(maxsize=64)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Parsing a PEM costs far more than a verification, so parsed keys are kept."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("CloudFront public keys are RSA keys")
    return key


def rsa_sign(private_key_pem: str, message: bytes, hash_algorithm: str = "SHA1") -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-1 by default, as CloudFront requires unless Hash-Algorithm says SHA256."""
    return load_private_key(private_key_pem).sign(message, padding.PKCS1v15(), _HASHES[hash_algorithm]())


@lru_cache(maxsize=8192)
def rsa_verify(public_key_pem: str, message: bytes, signature: bytes, hash_algorithm: str = "SHA1") -> bool:
    """Remembered per (key, message, signature): every HLS segment request repeats the same check."""
    try:
        load_public_key(public_key_pem).verify(signature, message, padding.PKCS1v15(), _HASHES[hash_algorithm]())
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


@dataclass(frozen=True)
class SignedCredentials:
    """What a viewer presents, from query parameters or cookies; exactly one of expires/policy is set."""

    key_pair_id: str
    signature: str
    expires: str | None = None
    policy: str | None = None
    hash_algorithm: str | None = None

    @property
    def kind(self) -> PolicyKind:
        return "custom" if self.policy is not None else "canned"

    def as_query(self) -> str:
        """The signing parameters in CloudFront's order, for appending to a child URI."""
        pairs = [
            (POLICY, self.policy) if self.policy is not None else (EXPIRES, self.expires),
            (SIGNATURE, self.signature),
            (KEY_PAIR_ID, self.key_pair_id),
        ]
        if self.hash_algorithm:
            pairs.append((HASH_ALGORITHM, self.hash_algorithm))
        return "&".join(f"{name}={value}" for name, value in pairs)

    def as_cookies(self) -> dict[str, str]:
        pairs = {
            POLICY: self.policy,
            EXPIRES: self.expires,
            SIGNATURE: self.signature,
            KEY_PAIR_ID: self.key_pair_id,
            HASH_ALGORITHM: self.hash_algorithm,
        }
        return {COOKIE_PREFIX + name: value for name, value in pairs.items() if value is not None}


def _credentials(values: Mapping[str, str]) -> SignedCredentials | None:
    """None unless the set is complete and unambiguous (one of Expires/Policy, a signature and a key id)."""
    signature, key_pair_id = values.get(SIGNATURE), values.get(KEY_PAIR_ID)
    expires, policy = values.get(EXPIRES), values.get(POLICY)
    if not signature or not key_pair_id or (expires is None) == (policy is None):
        return None
    return SignedCredentials(key_pair_id, signature, expires, policy, values.get(HASH_ALGORITHM))


def split_signed_query(query: str) -> tuple[SignedCredentials | None, str]:
    """Separate CloudFront's parameters from the viewer's own; the rest keeps its order and encoding."""
    kept: list[str] = []
    found: dict[str, str] = {}
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        if name in QUERY_PARAMS:
            found[name] = unquote(value)  # clients that percent-encode `~` (%7E) still match
        else:
            kept.append(part)
    return (_credentials(found) if found else None), "&".join(kept)


def credentials_from_cookies(cookies: Mapping[str, str]) -> SignedCredentials | None:
    values = {name[len(COOKIE_PREFIX) :]: value for name, value in cookies.items() if name.startswith(COOKIE_PREFIX)}
    return _credentials(values) if values else None


def sign(
    policy: str, *, key_pair_id: str, private_key_pem: str, kind: PolicyKind, hash_algorithm: str = "SHA1"
) -> SignedCredentials:
    """Sign a policy; a canned policy travels as its Expires time, a custom one as the policy itself."""
    signature = cloudfront_b64encode(rsa_sign(private_key_pem, policy.encode(), hash_algorithm))
    algorithm = None if hash_algorithm == "SHA1" else hash_algorithm
    if kind == "canned":
        expires = json.loads(policy)["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"]
        return SignedCredentials(key_pair_id, signature, expires=str(expires), hash_algorithm=algorithm)
    return SignedCredentials(
        key_pair_id, signature, policy=cloudfront_b64encode(policy.encode()), hash_algorithm=algorithm
    )


def sign_url(
    url: str,
    *,
    key_pair_id: str,
    private_key_pem: str,
    date_less_than: int,
    resource: str | None = None,
    date_greater_than: int | None = None,
    ip_address: str | None = None,
    kind: PolicyKind = "custom",
) -> str:
    """A signed URL: canned covers exactly `url`; custom covers `resource` (wildcards), default `url`."""
    if kind == "canned":
        if resource is not None or date_greater_than is not None or ip_address is not None:
            raise ValueError("a canned policy has only the URL and an expiry")
        policy = build_policy(url, date_less_than)
    else:
        policy = build_policy(
            resource or url, date_less_than, date_greater_than=date_greater_than, ip_address=ip_address
        )
    credentials = sign(policy, key_pair_id=key_pair_id, private_key_pem=private_key_pem, kind=kind)
    return f"{url}{'&' if '?' in url else '?'}{credentials.as_query()}"


def sign_cookies(
    resource: str,
    *,
    key_pair_id: str,
    private_key_pem: str,
    date_less_than: int,
    date_greater_than: int | None = None,
    ip_address: str | None = None,
) -> dict[str, str]:
    """Custom-policy cookies, so a wildcard resource can authorise every child request of a playlist."""
    policy = build_policy(resource, date_less_than, date_greater_than=date_greater_than, ip_address=ip_address)
    credentials = sign(policy, key_pair_id=key_pair_id, private_key_pem=private_key_pem, kind="custom")
    return credentials.as_cookies()


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """CloudFront wildcards: * is any run of characters (also none), ? is exactly one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def resource_matches(resource: str, url: str) -> bool:
    return _wildcard(resource).fullmatch(url) is not None


@lru_cache(maxsize=4096)
def _parse_statement(policy: bytes) -> dict[str, Any] | None:
    """The single statement CloudFront allows, or None when the document is not a valid policy."""
    try:
        document = json.loads(policy)
        statements = document["Statement"]
        if not isinstance(statements, list) or len(statements) != 1 or not isinstance(statements[0], dict):
            return None
        statement = statements[0]
        condition = statement["Condition"]
        _epoch_time(condition["DateLessThan"]["AWS:EpochTime"])
    except (ValueError, KeyError, TypeError):
        return None
    return statement


def _epoch(condition: Mapping[str, Any], name: str) -> int | None:
    value = condition.get(name)
    return None if value is None else _epoch_time(value["AWS:EpochTime"])


def _epoch_time(value: Any) -> int:
    """A JSON integer (or its decimal text), never a bool, a float or a negative number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("AWS:EpochTime must be an integer")
    return parse_non_negative_int(str(value), what="AWS:EpochTime")


def _ip_allowed(condition: Mapping[str, Any], client_ip: str | None) -> bool:
    rule = condition.get("IpAddress")
    if rule is None:
        return True
    if client_ip is None:
        return False
    try:
        return ipaddress.ip_address(client_ip) in ipaddress.ip_network(rule["AWS:SourceIp"], strict=False)
    except (ValueError, KeyError, TypeError):
        return False


def _statement_allows(statement: Mapping[str, Any], urls: Sequence[str], now: float, client_ip: str | None) -> bool:
    """Resource (absent means every resource, as CloudFront documents), time window and source address."""
    try:
        condition = statement["Condition"]
        less_than, greater_than = _epoch(condition, "DateLessThan"), _epoch(condition, "DateGreaterThan")
        resource = statement.get("Resource")
    except (ValueError, KeyError, TypeError):
        return False
    if less_than is None or now >= less_than or (greater_than is not None and now < greater_than):
        return False
    if resource is not None and not (isinstance(resource, str) and any(resource_matches(resource, u) for u in urls)):
        return False
    return _ip_allowed(condition, client_ip)


def verify(
    credentials: SignedCredentials,
    *,
    urls: Iterable[str],
    public_key: PublicKeyLookup,
    now: float,
    client_ip: str | None = None,
) -> bool:
    """True when an active key signed a policy allowing one of `urls` (request URL minus signing params)."""
    pem = public_key(credentials.key_pair_id)
    algorithm = credentials.hash_algorithm or "SHA1"
    if pem is None or algorithm not in _HASHES:
        return False
    try:
        signature = cloudfront_b64decode(credentials.signature)
        urls = list(urls)
        if credentials.policy is None:
            expires = parse_non_negative_int(credentials.expires or "", what=EXPIRES)
            return now < expires and any(
                rsa_verify(pem, build_policy(url, expires).encode(), signature, algorithm) for url in urls
            )
        policy = cloudfront_b64decode(credentials.policy)
    except ValueError:
        return False
    if not rsa_verify(pem, policy, signature, algorithm):
        return False
    statement = _parse_statement(policy)
    return statement is not None and _statement_allows(statement, urls, now, client_ip)
