"""A plain HLS client (ffmpeg, no cookies) plays a signed URL from a real edge server, via query rewriting."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import imageio_ffmpeg
import pytest

from streamstack.assets.models import Asset, PlaybackId
from streamstack.delivery.app import create_edge_app
from streamstack.keys.models import SigningKey
from streamstack.keys.signing import public_pem_of
from streamstack.platform import build_platform
from streamstack.signed_urls import load_private_key, sign_url
from tests.conftest import LiveServer, make_settings, reserve_port

pytestmark = pytest.mark.e2e

MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x240,CODECS="avc1.64000d"\n240p/index.m3u8\n'


def encode_hls(out: Path) -> None:
    """Three 1-second fMP4 segments of a test pattern: enough for a demuxer to walk the whole chain."""
    out.mkdir(parents=True)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_segment_type",
            "fmp4",
            "-hls_playlist_type",
            "vod",
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-hls_segment_filename",
            str(out / "seg_%03d.m4s"),
            str(out / "index.m3u8"),
        ],
        check=True,
        timeout=120,
    )


def play(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", url, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ffmpeg_plays_a_signed_url_and_is_refused_without_it(tmp_path, rsa_pems):
    port = reserve_port()
    settings = make_settings(tmp_path / "data", edge_port=port, public_edge_url=f"http://127.0.0.1:{port}")
    platform = build_platform(settings, with_queues=False)
    encode_hls(tmp_path / "hls")
    for path in (tmp_path / "hls").iterdir():
        platform.store.put_file(f"assets/ff1/240p/{path.name}", path)
    platform.store.put("assets/ff1/master.m3u8", [MASTER.encode()])
    with platform.sessions() as session:
        session.add(Asset(id="ff1", status="ready"))
        session.add(PlaybackId(id="ffsigned", asset_id="ff1", policy="signed"))
        session.add(
            SigningKey(
                id="KFFMPEGTEST001",
                public_key_pem=public_pem_of(load_private_key(rsa_pems[0])),
                private_key_pem=rsa_pems[0],
            )
        )
        session.commit()
    edge_base = settings.edge_base_url
    url = sign_url(
        f"{edge_base}/ffsigned.m3u8",
        key_pair_id="KFFMPEGTEST001",
        private_key_pem=rsa_pems[0],
        date_less_than=int(time.time()) + 300,
        resource=f"{edge_base}/ffsigned*",
    )
    edge = create_edge_app(platform)
    with LiveServer(edge, port):
        played = play(url)
        refused = play(f"{edge_base}/ffsigned.m3u8")
    platform.close()
    assert played.returncode == 0, played.stderr
    assert edge.objects.stats.misses >= 5  # master, rendition playlist, init, three segments
    assert refused.returncode != 0 and "403" in refused.stderr
