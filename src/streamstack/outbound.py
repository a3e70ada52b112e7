"""The SSRF guard for URLs users give the platform (imports, webhook endpoints): only public addresses.

Shared by the assets and webhooks domains, so it lives below both of them.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from streamstack.settings import Settings


class UrlRefused(ValueError):
    """The URL is not one the platform will fetch; the message says why."""


def check_url(url: str, settings: Settings, *, must_resolve: bool = True) -> None:
    """Scheme, host and every address it resolves to must be public unless allow-listed.

    Webhooks pass must_resolve=False: a host that does not resolve yet is retried at delivery, not refused.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("input must be an http:// or https:// URL")
    if not parts.hostname:
        raise UrlRefused("input URL has no host")
    if parts.username or parts.password:
        raise UrlRefused("input URL must not carry credentials")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if not must_resolve:
            return
        raise UrlRefused(f"input host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        check_address(str(info[4][0]), settings)


def check_address(address: str, settings: Settings) -> None:
    """Public addresses pass; private, loopback, link-local and multicast ones only when allow-listed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in settings.outbound_allow_cidrs):
        return
    if not ip.is_global or ip.is_multicast:
        raise UrlRefused(f"input resolves to a non-public address ({ip}); imports from private, "
                         "loopback and link-local networks are refused")
