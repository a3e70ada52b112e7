"""Playlist rewriting at the edge: child URI prefixes, ?max_resolution, signed-query propagation."""

from __future__ import annotations

import re
from collections.abc import Callable

_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")
_TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:\s*(\d+(?:\.\d+)?)", re.MULTILINE)
_MAX_RESOLUTION = re.compile(r"^(\d{3,4})p$")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
VARIANT_TAG = "#EXT-X-STREAM-INF"
IFRAME_TAG = "#EXT-X-I-FRAME-STREAM-INF"


def is_final(playlist: bytes) -> bool:
    """A playlist with EXT-X-ENDLIST will not change again (VOD, or a finished event)."""
    return b"#EXT-X-ENDLIST" in playlist


def is_master(playlist: bytes) -> bool:
    return VARIANT_TAG.encode() in playlist


def target_duration(playlist: bytes) -> float | None:
    match = _TARGET_DURATION.search(playlist.decode("utf-8", "replace"))
    return float(match.group(1)) if match else None


MAX_RESOLUTION_QUERY = "max_resolution"


def parse_max_resolution(value: str) -> int:
    """Mux's form: '720p' means variants whose shorter side is at most 720 pixels."""
    match = _MAX_RESOLUTION.match(value.strip().lower())
    if not match:
        raise ValueError("max_resolution must look like 720p")
    return int(match.group(1))


def _short_side(tag_line: str) -> int | None:
    match = _RESOLUTION.search(tag_line)
    return min(int(match.group(1)), int(match.group(2))) if match else None


def filter_variants(text: str, max_short_side: int) -> str:
    """Drop variants above the cap; if all are above it keep the smallest, so the playlist still plays."""
    lines = text.splitlines()
    variants = [(i, _short_side(line)) for i, line in enumerate(lines) if line.startswith(VARIANT_TAG)]
    too_big = {i for i, side in variants if side is not None and side > max_short_side}
    if variants and len(too_big) == len(variants):
        too_big.discard(min(variants, key=lambda item: item[1] or 0)[0])
    dropped: set[int] = set()
    for i in too_big:
        dropped.add(i)
        uri_line = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() and not lines[j].startswith("#")), None
        )
        if uri_line is not None:
            dropped.add(uri_line)
    for i, line in enumerate(lines):
        side = _short_side(line) if line.startswith(IFRAME_TAG) else None
        if side is not None and side > max_short_side:
            dropped.add(i)
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped) + "\n"


def rewrite_uris(text: str, rewrite: Callable[[str], str]) -> str:
    """Apply `rewrite` to every URI line and URI="..." attribute (EXT-X-MAP, EXT-X-MEDIA, EXT-X-KEY)."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            out.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{rewrite(m.group(1))}"', line) if "URI=" in line else line)
        elif line.strip():
            out.append(rewrite(line.strip()))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def child_uri_rewriter(*, prefix: str = "", signed_query: str = "") -> Callable[[str], str]:
    """Relative URIs get the prefix, same-edge URIs the viewer's signed query; absolute ones stay as is."""

    def rewrite(uri: str) -> str:
        if _ABSOLUTE.match(uri) or uri.startswith("//"):
            return uri
        if not uri.startswith("/"):
            uri = prefix + uri
        if signed_query:
            uri = f"{uri}{'&' if '?' in uri else '?'}{signed_query}"
        return uri

    return rewrite


def render_playlist(
    body: bytes, *, prefix: str = "", max_resolution: int | None = None, signed_query: str = ""
) -> bytes:
    """The playlist a viewer receives: filtered (master only), child URIs made resolvable and authorised."""
    text = body.decode("utf-8")
    if max_resolution is not None and is_master(body):
        text = filter_variants(text, max_resolution)
    if prefix or signed_query:
        text = rewrite_uris(text, child_uri_rewriter(prefix=prefix, signed_query=signed_query))
    return text.encode("utf-8")
