"""run_encode_job with the real ffmpeg pipeline on a tiny clip: catalog updates and the event it emits."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import select

from streamstack.assets import service as assets
from streamstack.assets.models import NewAssetSettings
from streamstack.events import encoding
from streamstack.events.encoding import run_encode_job
from streamstack.events.metadata import process_job_state_change
from streamstack.media import encoder
from streamstack.platform import Platform
from streamstack.storage.keys import asset_prefix, source_key
from streamstack.webhooks.models import OutboxEvent


def uploaded_asset(platform: Platform, data: bytes, **asset_settings: object) -> str:
    with platform.sessions() as db_session:
        asset = assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings(**asset_settings))
        db_session.commit()
    platform.store.put(source_key(asset.id), [data])
    platform.encode_queue.purge()
    return asset.id


def emitted_events(platform: Platform) -> list[dict]:
    messages = platform.events_queue.receive(max_messages=10)
    platform.events_queue.delete_batch([m.receipt_handle for m in messages])
    return [json.loads(m.body) for m in messages]


def load(platform: Platform, asset_id: str):  # type: ignore[no-untyped-def]
    with platform.sessions() as db_session:
        return assets.get_asset(db_session=db_session, asset_id=asset_id)


def test_a_good_source_is_encoded_and_announced_as_complete(platform, clip):
    asset_id = uploaded_asset(platform, clip.read_bytes(), mp4_support="standard")
    run_encode_job(platform, asset_id=asset_id)

    [event] = emitted_events(platform)
    asset = load(platform, asset_id)
    detail = event["detail"]
    assert detail["status"] == "COMPLETE" and detail["jobId"] == asset.job_id
    assert detail["userMetadata"] == {"asset_id": asset_id}
    assert asset.status == "preparing" and asset.progress >= 95
    assert asset.encoding_started_at is not None and asset.playable_at is not None
    [hls, mp4] = detail["outputGroupDetails"]
    assert hls["playlistFilePaths"] == [f"s3://{platform.settings.s3_bucket}/assets/{asset_id}/master.m3u8"]
    assert {o["videoDetails"]["heightInPx"] for o in hls["outputDetails"] if "videoDetails" in o} == {180}
    assert mp4["outputDetails"][0]["outputFilePaths"][0].endswith("/high.mp4")

    process_job_state_change(platform, event)
    ready = load(platform, asset_id)
    assert ready.status == "ready" and abs(ready.duration - 2.0) < 0.1
    assert [(r.width, r.height) for r in ready.renditions] == [(320, 180)]
    assert ready.renditions[0].codecs.startswith("avc1.") and "mp4a" in ready.renditions[0].codecs
    assert ready.renditions[0].size_bytes > 0 and ready.has_audio
    assert set(ready.images) == {"thumbnail", "storyboard_image", "storyboard_vtt"}
    assert ready.static_renditions[0]["name"] == "high.mp4" and ready.static_renditions[0]["filesize"] > 0
    assert ready.encoding_started_at <= ready.playable_at <= ready.ready_at


def test_the_assets_loudness_choice_reaches_the_encoder_and_its_measurement_the_catalog(platform, clip):
    normalised = uploaded_asset(platform, clip.read_bytes(), normalize_audio=True)
    run_encode_job(platform, asset_id=normalised)
    process_job_state_change(platform, emitted_events(platform)[0])
    loudness = load(platform, normalised).loudness
    assert loudness["method"] == "linear" and loudness["target_lufs"] == -23.0
    assert abs(loudness["integrated_lufs"] + 23.0) <= 1.0

    platform.settings.normalize_audio = True  # the platform default applies to assets that do not choose
    opted_out = uploaded_asset(platform, clip.read_bytes(), normalize_audio=False)
    run_encode_job(platform, asset_id=opted_out)
    process_job_state_change(platform, emitted_events(platform)[0])
    kept = load(platform, opted_out).loudness
    assert kept["method"] == "none" and kept["target_lufs"] is None and kept["integrated_lufs"] < -10


def test_the_assets_ladder_choice_or_the_platform_default_reaches_the_encoder(platform, clip):
    auto = uploaded_asset(platform, clip.read_bytes(), ladder="auto")
    unset = uploaded_asset(platform, clip.read_bytes())
    assert encoding.encode_request(platform, auto).options.ladder == "auto"
    assert encoding.encode_request(platform, unset).options.ladder == "fixed"
    platform.settings.ladder_mode = "auto"
    assert encoding.encode_request(platform, unset).options.ladder == "auto"
    fixed = uploaded_asset(platform, clip.read_bytes(), ladder="fixed")
    assert encoding.encode_request(platform, fixed).options.ladder == "fixed"
    with platform.sessions() as db_session:
        shown = assets.asset_to_out(assets.get_asset(db_session=db_session, asset_id=auto), "")
    assert shown.ladder == "auto"


def test_bad_input_becomes_an_error_event_with_the_precise_reason(platform):
    asset_id = uploaded_asset(platform, b"hello, this is not a video\n")
    run_encode_job(platform, asset_id=asset_id)

    [event] = emitted_events(platform)
    assert event["detail"]["status"] == "ERROR" and event["detail"]["errorCode"] == 1010
    process_job_state_change(platform, event)
    asset = load(platform, asset_id)
    assert asset.status == "errored"
    assert asset.errors == [event["detail"]["errorMessage"]] and "text" in asset.errors[0]
    assert list(platform.store.list(asset_prefix(asset_id))) == []


def test_an_unexpected_failure_propagates_so_the_message_is_retried(platform, monkeypatch):
    asset_id = uploaded_asset(platform, b"irrelevant")

    def broken(**_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(encoder, "encode_asset", broken)
    with pytest.raises(OSError, match="disk full"):
        run_encode_job(platform, asset_id=asset_id)
    assert emitted_events(platform) == []
    assert load(platform, asset_id).status == "preparing"


def test_finished_or_unknown_assets_are_not_encoded_again(platform, monkeypatch):
    monkeypatch.setattr(encoder, "encode_asset", lambda **_: pytest.fail("encoded a finished asset"))
    asset_id = uploaded_asset(platform, b"x")
    with platform.sessions() as db_session:
        asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
        asset.status = "ready"
        db_session.commit()
    run_encode_job(platform, asset_id=asset_id)
    run_encode_job(platform, asset_id="as_unknown")
    assert emitted_events(platform) == []


def test_progress_writes_are_throttled(platform):
    asset_id = uploaded_asset(platform, b"x")
    with platform.sessions() as db_session:
        assets.get_asset(db_session=db_session, asset_id=asset_id).status = "preparing"
        db_session.commit()
    updates: list[str] = []

    def count_updates(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE assets"):
            updates.append(statement)

    tracker = encoding.CatalogTracker(platform, asset_id)
    sql_event.listen(platform.engine, "before_cursor_execute", count_updates)
    try:
        for percent in range(0, 100):
            tracker.progress(float(percent))
        tracker.progress(100.0)
    finally:
        sql_event.remove(platform.engine, "before_cursor_execute", count_updates)
    assert len(updates) == 2  # the first report, then the final 100 (all within one second)
    assert load(platform, asset_id).progress == 100


def test_a_redelivered_encode_supersedes_the_first_attempt_without_duplicates(platform, clip):
    asset_id = uploaded_asset(platform, clip.read_bytes())
    run_encode_job(platform, asset_id=asset_id)  # the worker died before the message was deleted...
    run_encode_job(platform, asset_id=asset_id)  # ...so the queue delivered it again
    first, second = emitted_events(platform)
    assert first["detail"]["jobId"] != second["detail"]["jobId"] == load(platform, asset_id).job_id

    for event in (first, second, first, second):
        process_job_state_change(platform, event)
    asset = load(platform, asset_id)
    assert asset.status == "ready" and len(asset.renditions) == 1
    with platform.sessions() as db_session:
        ready = db_session.scalars(select(OutboxEvent).where(OutboxEvent.object_id == asset_id,
                                                             OutboxEvent.type == "video.asset.ready")).all()
    assert len(ready) == 1


@pytest.mark.parametrize(("cap", "reason"), [
    ({"max_source_dimension": 256}, "The source video is 320x180; the longest side may be at most 256 pixels."),
    ({"max_source_pixel_rate": 320 * 180 * 25 - 1}, "320x180 at 25 fps (1440000 pixels/s)"),
    ({"max_source_duration_seconds": 1.5}, "The source lasts 2.0 s; the limit is 1.5 s."),
])
def test_a_source_beyond_a_cap_errors_with_the_precise_reason_before_encoding(tmp_path, clip, cap, reason):
    from streamstack.platform import build_platform
    from tests.conftest import make_settings

    capped = build_platform(make_settings(tmp_path / "data", **cap))
    try:
        asset_id = uploaded_asset(capped, clip.read_bytes())
        run_encode_job(capped, asset_id=asset_id)
        [event] = emitted_events(capped)
        process_job_state_change(capped, event)
        asset = load(capped, asset_id)
        assert asset.status == "errored" and reason in asset.errors[0], asset.errors
        assert list(capped.store.list(asset_prefix(asset_id))) == []
    finally:
        capped.close()
