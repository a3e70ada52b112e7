"""An edge over a tmp LocalObjectStore and SQLite catalog, with hand-written HLS fixtures (no ffmpeg)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from streamstack.assets.models import Asset, PlaybackId
from streamstack.db.base import utcnow
from streamstack.delivery.app import EdgeApp, create_edge_app
from streamstack.keys.models import SigningKey
from streamstack.keys.signing import new_key_pair_id, public_pem_of, revoke_signing_key
from streamstack.platform import Platform, build_platform
from streamstack.settings import Settings
from streamstack.signed_urls import load_private_key
from tests.conftest import make_settings

EDGE = "http://edge.test"

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="default",DEFAULT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2",AUDIO="audio"
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="audio"
360p/index.m3u8
"""

VOD_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
seg_00000.m4s
#EXTINF:4.000,
seg_00001.m4s
#EXT-X-ENDLIST
"""

EVENT_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
seg_00000.m4s
"""

SEGMENT = bytes(range(256)) * 40  # 10,240 bytes


@dataclass
class Media:
    asset_id: str
    public_id: str
    signed_id: str
    other_signed_id: str
    event_public_id: str


@dataclass
class Keys:
    """Two active keys (rotation), one revoked, and a private key nobody registered."""

    old_id: str
    old_pem: str
    new_id: str
    new_pem: str
    revoked_id: str
    revoked_pem: str
    stranger_pem: str


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def edge_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", public_edge_url=EDGE)


@pytest.fixture
def edge_platform(edge_settings: Settings) -> Iterator[Platform]:
    platform = build_platform(edge_settings, with_queues=False)
    yield platform
    platform.close()


def write_asset(
    platform: Platform,
    asset_id: str,
    files: dict[str, bytes | str],
    *,
    status: str = "ready",
    playbacks: dict[str, str],
) -> None:
    for name, body in files.items():
        data = body.encode() if isinstance(body, str) else body
        platform.store.put(f"assets/{asset_id}/{name}", [data])
    with platform.sessions() as session:
        session.add(Asset(id=asset_id, status=status))
        session.add_all(PlaybackId(id=pid, asset_id=asset_id, policy=policy) for pid, policy in playbacks.items())
        session.commit()


def vod_files() -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {
        "master.m3u8": MASTER,
        "thumbnail.jpg": b"\xff\xd8\xff\xe0jpeg",
        "storyboard.vtt": "WEBVTT\n\n00:00.000 --> 00:05.000\nstoryboard.jpg#xywh=0,0,1,1\n",
    }
    for rendition in ("1080p", "720p", "360p", "audio"):
        files[f"{rendition}/index.m3u8"] = VOD_PLAYLIST
        files[f"{rendition}/init.mp4"] = b"init-" + rendition.encode()
        files[f"{rendition}/seg_00000.m4s"] = SEGMENT
        files[f"{rendition}/seg_00001.m4s"] = SEGMENT[::-1]
    return files


@pytest.fixture
def media(edge_platform: Platform) -> Media:
    write_asset(
        edge_platform, "asset1", vod_files(), playbacks={"pubA1": "public", "sigA1": "signed", "sigA2": "signed"}
    )
    write_asset(
        edge_platform,
        "asset2",
        {"master.m3u8": MASTER.replace("1080p", "x"), "720p/index.m3u8": EVENT_PLAYLIST},
        status="preparing",
        playbacks={"pubE1": "public"},
    )
    return Media("asset1", "pubA1", "sigA1", "sigA2", "pubE1")


@pytest.fixture(scope="session")
def rsa_pems() -> list[str]:
    """RSA generation is slow: four private keys per test session, reused by every test."""
    return [
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
        for _ in range(4)
    ]


@pytest.fixture
def keys(edge_platform: Platform, rsa_pems: list[str]) -> Keys:
    old, new, revoked, stranger = rsa_pems
    ids = [new_key_pair_id() for _ in range(3)]
    with edge_platform.sessions() as session:
        for offset, (key_id, pem) in enumerate(zip(ids, (old, new, revoked), strict=True)):
            public = public_pem_of(load_private_key(pem))
            session.add(
                SigningKey(
                    id=key_id,
                    name=key_id,
                    public_key_pem=public,
                    private_key_pem=pem,
                    created_at=utcnow() + timedelta(seconds=offset),
                )
            )
        session.commit()
        revoke_signing_key(db_session=session, key_id=ids[2])
    return Keys(ids[0], old, ids[1], new, ids[2], revoked, stranger)


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


@pytest.fixture
def edge(edge_platform: Platform, media: Media, keys: Keys) -> EdgeApp:
    return create_edge_app(edge_platform)


@pytest.fixture
async def client(edge: EdgeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        yield http
