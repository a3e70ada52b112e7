"""Text tracks through the API: upload or fetch a caption file, see it in the master, delete it, bad files refused."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from streamstack.events.metadata import process_job_state_change
from streamstack.settings import Settings
from tests.integration.events.test_metadata_processor import JOB_ID, complete_event, publish_outputs

SRT = "1\n00:00:00,500 --> 00:00:01,500\nHello <i>there</i>\n\n2\n00:00:01,600 --> 00:00:01,900\nBye\n"
VTT = "WEBVTT\n\n00:00.200 --> 00:01.800\nBonjour\n"


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    """On SQLite and on PostgreSQL."""
    return catalog_settings


@pytest.fixture
def asset_id(client, headers, platform) -> str:
    """An asset whose encode is running (job JOB_ID), as the worker leaves it."""
    asset_id = client.post("/v1/uploads", json={}, headers=headers).json()["asset_id"]
    with platform.sessions() as db:
        from streamstack.assets.models import Asset

        asset = db.get(Asset, asset_id)
        asset.status, asset.job_id = "preparing", JOB_ID
        db.commit()
    return asset_id


@pytest.fixture
def caption_server(tmp_path: Path) -> Iterator[str]:
    """Serves tmp_path/captions over loopback (allow-listed in the test settings) for `url` imports."""
    folder = tmp_path / "captions"
    folder.mkdir()
    (folder / "fr.vtt").write_text(VTT)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def upload_track(client, headers, asset_id: str, data: bytes, filename: str = "subs.srt", **fields):
    form = {"language_code": "en", **fields}
    return client.post(f"/v1/assets/{asset_id}/tracks", data=form, files={"file": (filename, data)}, headers=headers)


def read(platform, key: str) -> str:
    return b"".join(platform.store.get(key)).decode()


def keys(platform, prefix: str) -> set[str]:
    return {info.key for info in platform.store.list(prefix)}


def test_tracks_added_while_encoding_join_the_master_when_it_is_ready(client, headers, platform, asset_id,
                                                                       caption_server):
    created = upload_track(client, headers, asset_id, SRT.encode(), name="English", closed_captions="true")
    assert created.status_code == 201, created.text
    track = created.json()
    assert {k: track[k] for k in ("type", "text_type", "language_code", "name", "closed_captions", "status",
                                  "source_format", "cue_count")} == {
        "type": "text", "text_type": "subtitles", "language_code": "en", "name": "English",
        "closed_captions": True, "status": "ready", "source_format": "srt", "cue_count": 2}
    assert read(platform, f"tracks/{asset_id}/{track['id']}.vtt") == (
        "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello <i>there</i>\n\n00:00:01.600 --> 00:00:01.900\nBye\n")
    assert not keys(platform, f"assets/{asset_id}/text-")  # nothing plays yet

    publish_outputs(platform, asset_id)
    process_job_state_change(platform, complete_event(asset_id, platform.settings.s3_bucket))
    master = read(platform, f"assets/{asset_id}/master.m3u8")
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en"' in master
    assert f'URI="text-{track["id"]}.m3u8"' in master and master.count(',SUBTITLES="subs"') == 2
    playlist = read(platform, f"assets/{asset_id}/text-{track['id']}.m3u8")
    assert "#EXTINF:2.000,\n" in playlist and f"text-{track['id']}.vtt" in playlist
    assert read(platform, f"assets/{asset_id}/text-{track['id']}.vtt").startswith(
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:00.500 --> ")

    fetched = client.post(f"/v1/assets/{asset_id}/tracks", headers=headers,
                          json={"language_code": "fr", "name": "Français", "url": f"{caption_server}/fr.vtt"})
    assert fetched.status_code == 201, fetched.text
    assert fetched.json()["source_format"] == "webvtt"
    master = read(platform, f"assets/{asset_id}/master.m3u8")
    assert 'NAME="English"' in master and 'NAME="Français",LANGUAGE="fr"' in master

    asset = client.get(f"/v1/assets/{asset_id}", headers=headers).json()
    assert [t["name"] for t in asset["tracks"]] == ["English", "Français"]

    assert client.delete(f"/v1/assets/{asset_id}/tracks/{track['id']}", headers=headers).status_code == 204
    master = read(platform, f"assets/{asset_id}/master.m3u8")
    assert 'NAME="English"' not in master and 'NAME="Français"' in master
    assert keys(platform, f"assets/{asset_id}/text-") == {
        f"assets/{asset_id}/text-{fetched.json()['id']}.m3u8", f"assets/{asset_id}/text-{fetched.json()['id']}.vtt"}
    assert keys(platform, f"tracks/{asset_id}/") == {f"tracks/{asset_id}/{fetched.json()['id']}.vtt"}
    assert client.delete(f"/v1/assets/{asset_id}/tracks/{track['id']}", headers=headers).status_code == 404

    assert client.delete(f"/v1/assets/{asset_id}", headers=headers).status_code == 204
    assert not keys(platform, f"tracks/{asset_id}/")


@pytest.mark.parametrize(
    ("data", "status", "code", "words"),
    [
        (b"\x00\x01binary\x00", 422, "not_captions", "binary data"),
        (b"This is a shopping list\n- milk\n", 422, "not_captions", "neither WebVTT"),
        ("1\n00:00:01,000 --> 00:00:02,000\nD\xe9j\xe0 vu\n".encode("cp1252"), 422, "bad_encoding", "line 3"),
        (b"1\n00:00:03,000 --> 00:00:02,000\nbackwards\n", 422, "bad_timing", "Line 2"),
        (b"WEBVTT\n\n", 422, "no_cues", "no cues"),
    ],
)
def test_bad_caption_files_get_a_precise_problem(client, headers, asset_id, platform, data, status, code, words):
    response = upload_track(client, headers, asset_id, data)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and words in body["detail"]
    assert client.get(f"/v1/assets/{asset_id}", headers=headers).json()["tracks"] == []
    assert not keys(platform, f"tracks/{asset_id}/")


def test_bad_requests_are_refused_precisely(client, headers, asset_id):
    url = f"/v1/assets/{asset_id}/tracks"
    no_file = client.post(url, json={"language_code": "en"}, headers=headers)
    assert no_file.status_code == 422 and no_file.json()["code"] == "missing_file"
    bad_language = upload_track(client, headers, asset_id, SRT.encode(), language_code="english please")
    assert bad_language.status_code == 422 and "language_code" in bad_language.json()["detail"]
    private = client.post(url, json={"language_code": "en", "url": "http://10.0.0.1/subs.vtt"}, headers=headers)
    assert private.status_code == 422 and private.json()["code"] == "url_refused"
    assert "non-public" in private.json()["detail"]
    text = client.post(url, content=SRT.encode(), headers={**headers, "Content-Type": "text/plain"})
    assert text.status_code == 415
    unknown = upload_track(client, headers, "as_missing", SRT.encode())
    assert unknown.status_code == 404


def test_reading_needs_no_write_scope_but_adding_does(client, platform, asset_id):
    from tests.conftest import bearer, new_api_key

    reader = bearer(new_api_key(platform, "read", name="reader"))
    response = upload_track(client, reader, asset_id, SRT.encode())
    assert response.status_code == 403
