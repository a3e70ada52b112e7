"""The metadata processor on SQLite and PostgreSQL: derived metadata, idempotency, stale and unknown events."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from streamstack.assets import service as assets
from streamstack.assets.models import Asset, NewAssetSettings, Rendition
from streamstack.events.metadata import process_job_state_change
from streamstack.platform import Platform, build_platform
from streamstack.settings import Settings
from streamstack.webhooks.models import OutboxEvent

JOB_ID = "1700000000000-abc123"
MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Default",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1200000,AVERAGE-BANDWIDTH=900000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=25.000,AUDIO="audio"
360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=500000,CODECS="avc1.640015,mp4a.40.2",RESOLUTION=426x240,FRAME-RATE=25.000,AUDIO="audio"
240p.m3u8
"""


def media_playlist(name: str) -> str:
    return (f'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="{name}_init.mp4"\n'
            f"#EXTINF:2.000000,\n{name}_00000.m4s\n#EXT-X-ENDLIST\n")


@pytest.fixture
def catalog_platform(catalog_settings: Settings) -> Iterator[Platform]:
    built = build_platform(catalog_settings)
    yield built
    built.close()


def new_asset(platform: Platform, *, job_id: str | None = JOB_ID) -> str:
    with platform.sessions() as db_session:
        asset = assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings())
        asset.status, asset.job_id = "preparing", job_id
        db_session.commit()
        return asset.id


def publish_outputs(platform: Platform, asset_id: str) -> None:
    """What an encode leaves under assets/{id}/: playlists, fixed-size segments, images, static MP4."""
    put = lambda name, data: platform.store.put(f"assets/{asset_id}/{name}", [data])  # noqa: E731
    put("master.m3u8", MASTER.encode())
    for name, segment_size in (("360p", 5000), ("240p", 2000), ("audio", 700)):
        put(f"{name}.m3u8", media_playlist(name).encode())
        put(f"{name}_init.mp4", b"i" * 100)
        put(f"{name}_00000.m4s", b"s" * segment_size)
    put("thumbnail.jpg", b"jpeg")
    put("storyboard.jpg", b"jpeg")
    put("storyboard.vtt", b"WEBVTT\n")
    put("high.mp4", b"m" * 9000)


def complete_event(asset_id: str, bucket: str, job_id: str = JOB_ID) -> dict:
    uri = lambda name: f"s3://{bucket}/assets/{asset_id}/{name}"  # noqa: E731
    return {
        "version": "0", "id": "e1", "detail-type": "MediaConvert Job State Change", "source": "aws.mediaconvert",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "timestamp": 1, "accountId": "000000000000", "queue": "q", "jobId": job_id, "status": "COMPLETE",
            "userMetadata": {"asset_id": asset_id},
            "outputGroupDetails": [
                {"type": "HLS_GROUP", "playlistFilePaths": [uri("master.m3u8")], "outputDetails": [
                    {"outputFilePaths": [uri("360p.m3u8")], "durationInMs": 2000,
                     "videoDetails": {"widthInPx": 640, "heightInPx": 360}},
                    {"outputFilePaths": [uri("240p.m3u8")], "durationInMs": 2000,
                     "videoDetails": {"widthInPx": 426, "heightInPx": 240}},
                    {"outputFilePaths": [uri("audio.m3u8")], "durationInMs": 2000}]},
                {"type": "FILE_GROUP", "outputDetails": [
                    {"outputFilePaths": [uri("high.mp4")], "durationInMs": 2000,
                     "videoDetails": {"widthInPx": 640, "heightInPx": 360}}]},
            ],
        },
    }


def error_event(asset_id: str, job_id: str = JOB_ID) -> dict:
    return {"detail-type": "MediaConvert Job State Change", "source": "aws.mediaconvert", "detail": {
        "jobId": job_id, "status": "ERROR", "errorCode": 1010, "userMetadata": {"asset_id": asset_id},
        "errorMessage": "The file is text, not audio or video (it starts with 'hello')."}}


def outbox(platform: Platform, asset_id: str) -> list[str]:
    with platform.sessions() as db_session:
        return list(db_session.scalars(select(OutboxEvent.type).where(OutboxEvent.object_id == asset_id)
                                       .order_by(OutboxEvent.created_at, OutboxEvent.id)))


def load(platform: Platform, asset_id: str) -> Asset:
    with platform.sessions() as db_session:
        asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
        assert asset is not None
        return asset


def test_complete_event_stores_metadata_derived_from_the_outputs(catalog_platform):
    asset_id = new_asset(catalog_platform)
    publish_outputs(catalog_platform, asset_id)
    process_job_state_change(catalog_platform, complete_event(asset_id, catalog_platform.settings.s3_bucket))

    asset = load(catalog_platform, asset_id)
    assert asset.status == "ready" and asset.progress == 100.0
    assert asset.ready_at is not None and asset.playable_at is not None and asset.playable_at <= asset.ready_at
    assert (asset.duration, asset.max_width, asset.max_height) == (2.0, 640, 360)
    assert (asset.max_frame_rate, asset.aspect_ratio, asset.has_audio) == (25.0, "16:9", True)
    top, low = asset.renditions
    assert (top.name, top.width, top.height, top.bitrate, top.average_bitrate) == ("360p", 640, 360, 1200000, 900000)
    assert top.codecs == "avc1.64001e,mp4a.40.2" and top.frame_rate == 25.0
    assert top.playlist_key == f"assets/{asset_id}/360p.m3u8"
    assert (top.size_bytes, low.size_bytes) == (5100, 2100)
    assert asset.images == {"thumbnail": f"assets/{asset_id}/thumbnail.jpg",
                            "storyboard_image": f"assets/{asset_id}/storyboard.jpg",
                            "storyboard_vtt": f"assets/{asset_id}/storyboard.vtt"}
    assert asset.static_renditions == [{"name": "high.mp4", "ext": "mp4", "width": 640, "height": 360,
                                        "filesize": 9000}]
    assert outbox(catalog_platform, asset_id) == ["video.asset.created", "video.asset.ready"]


def test_the_same_event_twice_changes_nothing(catalog_platform):
    asset_id = new_asset(catalog_platform)
    publish_outputs(catalog_platform, asset_id)
    event = complete_event(asset_id, catalog_platform.settings.s3_bucket)
    process_job_state_change(catalog_platform, event)
    first = load(catalog_platform, asset_id)
    process_job_state_change(catalog_platform, event)
    process_job_state_change(catalog_platform, error_event(asset_id))

    again = load(catalog_platform, asset_id)
    assert (again.status, again.ready_at, again.updated_at) == (first.status, first.ready_at, first.updated_at)
    with catalog_platform.sessions() as db_session:
        count = db_session.scalar(select(func.count()).select_from(Rendition).where(Rendition.asset_id == asset_id))
    assert count == 2
    assert outbox(catalog_platform, asset_id) == ["video.asset.created", "video.asset.ready"]


def test_error_event_errors_the_asset_with_the_encoders_message_once(catalog_platform):
    asset_id = new_asset(catalog_platform)
    process_job_state_change(catalog_platform, error_event(asset_id))
    process_job_state_change(catalog_platform, error_event(asset_id))

    asset = load(catalog_platform, asset_id)
    assert asset.status == "errored"
    assert asset.errors == ["The file is text, not audio or video (it starts with 'hello')."]
    assert outbox(catalog_platform, asset_id) == ["video.asset.created", "video.asset.errored"]


def test_events_of_a_superseded_attempt_are_ignored(catalog_platform):
    asset_id = new_asset(catalog_platform, job_id="1700000000001-newjob")
    publish_outputs(catalog_platform, asset_id)
    process_job_state_change(catalog_platform, complete_event(asset_id, catalog_platform.settings.s3_bucket))
    process_job_state_change(catalog_platform, error_event(asset_id))
    assert load(catalog_platform, asset_id).status == "preparing"
    assert outbox(catalog_platform, asset_id) == ["video.asset.created"]


def test_a_job_submitted_elsewhere_without_our_job_id_is_accepted(catalog_platform):
    asset_id = new_asset(catalog_platform, job_id=None)
    publish_outputs(catalog_platform, asset_id)
    process_job_state_change(catalog_platform, complete_event(asset_id, catalog_platform.settings.s3_bucket))
    assert load(catalog_platform, asset_id).status == "ready"


def test_events_for_unknown_or_deleted_assets_are_dropped_with_a_log_line(catalog_platform, caplog):
    asset_id = new_asset(catalog_platform)
    with catalog_platform.sessions() as db_session:
        assets.delete_asset(db_session=db_session, store=catalog_platform.store,
                            asset=assets.get_asset(db_session=db_session, asset_id=asset_id))
    with caplog.at_level("INFO", logger="streamstack.events.metadata"):
        process_job_state_change(catalog_platform, complete_event(asset_id, catalog_platform.settings.s3_bucket))
        process_job_state_change(catalog_platform, error_event("as_never_existed"))
    assert sum("unknown asset dropped" in r.getMessage() for r in caplog.records) == 2
    assert outbox(catalog_platform, asset_id) == ["video.asset.created", "video.asset.deleted"]


def test_progress_reports_only_move_progress_forward(catalog_platform):
    asset_id = new_asset(catalog_platform)
    status_update = lambda percent: {"detail": {  # noqa: E731
        "jobId": JOB_ID, "status": "STATUS_UPDATE", "userMetadata": {"asset_id": asset_id},
        "jobProgress": {"jobPercentComplete": percent}}}
    process_job_state_change(catalog_platform, status_update(40))
    process_job_state_change(catalog_platform, status_update(25))
    process_job_state_change(catalog_platform, {"detail": {"jobId": JOB_ID, "status": "PROGRESSING",
                                                           "userMetadata": {"asset_id": asset_id}}})
    asset = load(catalog_platform, asset_id)
    assert (asset.status, asset.progress) == ("preparing", 40.0)


def test_concurrent_deliveries_of_one_event_apply_it_once(catalog_platform):
    asset_id = new_asset(catalog_platform)
    publish_outputs(catalog_platform, asset_id)
    event = complete_event(asset_id, catalog_platform.settings.s3_bucket)
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            process_job_state_change(catalog_platform, event)
        except Exception as exc:  # a losing SQLite writer may fail; the queue would redeliver it
            failures.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in failures:
        process_job_state_change(catalog_platform, event)  # the redelivery
    assert outbox(catalog_platform, asset_id) == ["video.asset.created", "video.asset.ready"]
    assert len(load(catalog_platform, asset_id).renditions) == 2
