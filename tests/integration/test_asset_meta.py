"""Asset `meta` (Mux's model): set on uploads and imports, PATCHed, filtered and searched in the list."""

from __future__ import annotations

import base64

import pytest

from streamstack.settings import Settings
from streamstack.webhooks.models import OutboxEvent


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    """On SQLite and on PostgreSQL."""
    return catalog_settings


def upload(client, headers, **meta) -> str:
    body = {"new_asset_settings": {"meta": meta}} if meta else {}
    response = client.post("/v1/uploads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["asset_id"]


def titles(client, headers, **params) -> list[str]:
    response = client.get("/v1/assets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [a["meta"]["title"] for a in response.json()["data"]]


def test_meta_round_trips_through_upload_get_and_list(client, headers):
    meta = {"title": "Cup final", "creator_id": "user-7", "external_id": "cms-42"}
    asset_id = upload(client, headers, **meta)
    assert client.get(f"/v1/assets/{asset_id}", headers=headers).json()["meta"] == meta
    assert client.get("/v1/assets", headers=headers).json()["data"][0]["meta"] == meta


def test_patch_changes_only_the_fields_sent_and_emits_updated(client, headers, platform):
    asset_id = upload(client, headers, title="Draft", creator_id="user-7", external_id="cms-42")
    response = client.patch(f"/v1/assets/{asset_id}", json={"meta": {"title": "Final cut", "external_id": None}},
                            headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["meta"] == {"title": "Final cut", "creator_id": "user-7", "external_id": None}
    assert client.get(f"/v1/assets/{asset_id}", headers=headers).json()["meta"]["title"] == "Final cut"
    with platform.sessions() as db:
        event = db.query(OutboxEvent).filter_by(type="video.asset.updated", object_id=asset_id).one()
        assert event.data["meta"]["title"] == "Final cut"
    passthrough = client.patch(f"/v1/assets/{asset_id}", json={"passthrough": "p-1"}, headers=headers).json()
    assert passthrough["passthrough"] == "p-1" and passthrough["meta"]["title"] == "Final cut"


def test_list_filters_by_ids_and_searches_titles(client, headers):
    upload(client, headers, title="Derby highlights", creator_id="alice", external_id="e-1")
    upload(client, headers, title="Press conference", creator_id="bob", external_id="e-2")
    upload(client, headers, title="DERBY full match", creator_id="alice", external_id="e-3")
    upload(client, headers, title="100% fit", creator_id="carol")
    assert titles(client, headers, creator_id="alice") == ["DERBY full match", "Derby highlights"]
    assert titles(client, headers, external_id="e-2") == ["Press conference"]
    assert titles(client, headers, title="derby") == ["DERBY full match", "Derby highlights"]
    assert titles(client, headers, title="derby", creator_id="alice", external_id="e-1") == ["Derby highlights"]
    assert titles(client, headers, title="0%") == ["100% fit"]  # wildcards are literal text
    assert titles(client, headers, title="_") == []
    assert titles(client, headers, creator_id="nobody") == []


def test_the_uploaded_file_name_is_the_default_title(client, headers):
    encoded = base64.b64encode("Match day – 1.mp4".encode()).decode()
    created = client.post("/tus", headers={**headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10",
                                            "Upload-Metadata": f"filename {encoded}"})
    assert created.status_code == 201, created.text
    assert titles(client, headers) == ["Match day – 1.mp4"]

    tus = client.post("/v1/uploads", json={"new_asset_settings": {"meta": {"title": "Given title"}}},
                      headers=headers).json()
    plain = client.post("/v1/uploads", json={}, headers=headers).json()
    path_name = base64.b64encode(b"C:\\clips\\interview.mov").decode()
    for created_upload in (tus, plain):
        declared = client.post(f"/tus/{created_upload['id']}", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": f"filename {path_name}"})
        assert declared.status_code == 201, declared.text
    for created_upload, title in ((tus, "Given title"), (plain, "interview.mov")):
        asset = client.get(f"/v1/assets/{created_upload['asset_id']}", headers=headers).json()
        assert asset["meta"]["title"] == title


def test_an_import_is_titled_by_its_url_file_name(client, headers):
    response = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/media/Cup%20final.mp4"},
                           headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["meta"]["title"] == "Cup final.mp4"
    titled = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/x.mp4", "meta": {"title": "Mine"}},
                         headers=headers)
    assert titled.json()["meta"]["title"] == "Mine"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"meta": {"title": "x" * 513}}, "title"),
        ({"meta": {"creator_id": "x" * 129}}, "creator_id"),
        ({"meta": {"colour": "red"}}, "colour"),
        ({"status": "ready"}, "status"),
    ],
)
def test_bad_meta_is_a_precise_422(client, headers, body, detail):
    asset_id = upload(client, headers)
    response = client.patch(f"/v1/assets/{asset_id}", json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in str(response.json())


def test_patching_an_unknown_asset_is_404(client, headers):
    response = client.patch("/v1/assets/as_missing", json={"meta": {"title": "x"}}, headers=headers)
    assert response.status_code == 404
