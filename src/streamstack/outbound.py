"""The SSRF guard for URLs users give the platform (imports, webhook endpoints, simulcast targets): only public
addresses.

Shared by the assets, webhooks and live domains, so it lives below them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from streamstack.settings import Settings


class UrlRefused(ValueError):
    """The URL is not one the platform will call (import or webhook); the message says why."""


@dataclass(frozen=True)
class Purpose:
    """Who calls out, so that a refusal names it, and over which schemes (scheme: default port)."""

    noun: str
    calls: str
    schemes: tuple[tuple[str, int], ...] = (("http", 80), ("https", 443))

    def port(self, scheme: str, port: int | None) -> int:
        return port or dict(self.schemes).get(scheme, 0)


IMPORT = Purpose("input URL", "imports")
WEBHOOK = Purpose("webhook URL", "webhooks")
SIMULCAST = Purpose("simulcast target URL", "simulcast targets", (("rtmp", 1935), ("rtmps", 443)))


def check_url(url: str, settings: Settings, *, must_resolve: bool = True, purpose: Purpose = IMPORT,
              allow_private: bool = False) -> None:
    """Scheme, host and every address it resolves to must be public unless allow-listed.

    Webhooks pass must_resolve=False: a host that does not resolve yet is retried at delivery, not refused.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise UrlRefused(f"{purpose.noun} is not a valid URL: {exc}") from exc
    if parts.scheme not in dict(purpose.schemes):
        allowed = " or ".join(f"{scheme}://" for scheme, _ in purpose.schemes)
        raise UrlRefused(f"{purpose.noun} must be an {allowed} URL")
    if not parts.hostname:
        raise UrlRefused(f"{purpose.noun} has no host")
    if parts.username or parts.password:
        raise UrlRefused(f"{purpose.noun} must not carry credentials")
    try:
        addresses = resolve(parts.hostname, purpose.port(parts.scheme, parts.port))
    except socket.gaierror as exc:
        if not must_resolve:
            return
        raise UrlRefused(f"{purpose.noun} host {parts.hostname!r} does not resolve") from exc
    except ValueError as exc:  # a port out of range or not a number, a host label IDNA refuses
        raise UrlRefused(f"{purpose.noun} is not a valid URL: {exc}") from exc
    for address in addresses:
        check_address(address, settings, purpose=purpose, allow_private=allow_private)


def resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_address(address: str, settings: Settings, *, purpose: Purpose = IMPORT, allow_private: bool = False) -> None:
    """Public addresses pass; private, loopback, link-local and multicast ones only when allow-listed.

    allow_private lets loopback and private networks through, never link-local (cloud metadata) or multicast.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in settings.outbound_allow_cidrs):
        return
    if allow_private and (ip.is_loopback or ip.is_private) and not (ip.is_link_local or ip.is_unspecified):
        return
    if not ip.is_global or ip.is_multicast:
        raise UrlRefused(f"{purpose.noun} resolves to a non-public address ({ip}); {purpose.calls} to "
                         "private, loopback and link-local networks are refused")


class CheckedAddressTransport(httpx.BaseTransport):
    """Dials only an address it has just checked: the host is resolved once, checked, and that address is
    connected to (Host header and TLS name stay the URL's), so DNS that changes between check and connect
    reaches nothing."""

    def __init__(self, settings: Settings, purpose: Purpose, **options: Any) -> None:
        self.settings, self.purpose = settings, purpose
        self.inner = httpx.HTTPTransport(**options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host, port = request.url.host, request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = resolve(host, port)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"{self.purpose.noun} host {host!r} does not resolve", request=request) from exc
        for address in addresses:
            check_address(address, self.settings, purpose=self.purpose)
        request.url = request.url.copy_with(host=addresses[0].split("%", 1)[0])
        request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
