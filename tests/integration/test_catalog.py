"""The catalog on SQLite and PostgreSQL: migrations apply, assets and their children round-trip, pages page."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from streamstack.assets import service
from streamstack.assets.models import NewAssetSettings, Rendition
from streamstack.db.models import Base
from streamstack.db.session import alembic_config, open_catalog, upgrade
from streamstack.webhooks.models import OutboxEvent

TABLES = {"assets", "renditions", "playback_ids", "uploads", "api_keys", "outbox_events", "signing_keys",
          "webhook_endpoints", "webhook_deliveries", "idempotency_records", "tracks", "alembic_version"}


def test_migrations_create_every_table(catalog_settings):
    engine, _ = open_catalog(catalog_settings)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def schema(engine: Engine) -> dict[str, list[str]]:
    """Every table with its columns and indexes: what a migration run may not change when already at head."""
    inspector = inspect(engine)
    return {table: sorted([c["name"] for c in inspector.get_columns(table)]
                          + [f"index:{i['name']}" for i in inspector.get_indexes(table)])
            for table in inspector.get_table_names()}


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_migrations_are_idempotent(catalog_settings):
    engine, sessions = open_catalog(catalog_settings)
    with sessions() as db:
        asset_id = service.create_asset(db_session=db, new_asset_settings=NewAssetSettings()).id
        db.commit()
    first = schema(engine)
    engine.dispose()

    engine, sessions = open_catalog(catalog_settings)  # a restart runs the migrations again
    assert schema(engine) == first
    assert revision(engine) == head()
    with sessions() as db:
        assert service.get_asset(db_session=db, asset_id=asset_id) is not None
    engine.dispose()


def test_downgrade_to_base_then_upgrade_to_head(catalog_settings):
    """Every migration's downgrade runs, and the schema comes back the same as a fresh upgrade built it."""
    url = catalog_settings.resolved_database_url
    engine, _ = open_catalog(catalog_settings)
    fresh = schema(engine)
    command.downgrade(alembic_config(url), "base")
    assert set(schema(engine)) <= {"alembic_version"} and revision(engine) is None
    upgrade(url)
    assert schema(engine) == fresh and revision(engine) == head()
    engine.dispose()


def test_the_migrations_build_exactly_the_models(catalog_settings):
    """No drift: autogenerate finds nothing to add, drop or alter between the models and the migrated catalog."""
    engine, _ = open_catalog(catalog_settings)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_asset_round_trip_with_renditions_and_outbox(catalog_settings):
    engine, sessions = open_catalog(catalog_settings)
    with sessions() as db:
        asset = service.create_asset(db_session=db, new_asset_settings=NewAssetSettings(
            playback_policy=["public", "signed"], passthrough="match-42"), edge_base_url="http://edge")
        asset.renditions.append(Rendition(name="720p", width=1280, height=720, bitrate=3_000_000, codecs="avc1",
                                          playlist_key=f"assets/{asset.id}/720p/index.m3u8"))
        db.commit()
        asset_id = asset.id
    with sessions() as db:
        loaded = service.get_asset(db_session=db, asset_id=asset_id)
        assert loaded is not None and loaded.passthrough == "match-42"
        assert sorted(p.policy for p in loaded.playback_ids) == ["public", "signed"]
        assert loaded.renditions[0].height == 720
        events = db.query(OutboxEvent).filter_by(object_id=asset_id).all()
        assert [e.type for e in events] == ["video.asset.created"]
        out = service.asset_to_out(loaded, "http://edge")
        assert out.playback_ids[0].url.startswith("http://edge/pb_")
    engine.dispose()


def test_cursor_pagination_and_status_filter(catalog_settings):
    engine, sessions = open_catalog(catalog_settings)
    with sessions() as db:
        ids = []
        for _ in range(7):
            ids.append(service.create_asset(db_session=db, new_asset_settings=NewAssetSettings()).id)
        db.commit()
        errored = service.get_asset(db_session=db, asset_id=ids[0])
        service.mark_errored(db_session=db, asset=errored, reason="bad")
        db.commit()
        seen, cursor = [], None
        while True:
            page, cursor = service.list_assets(db_session=db, limit=3, cursor=cursor)
            seen += [a.id for a in page]
            if cursor is None:
                break
        assert seen == sorted(ids, reverse=True)
        only, _ = service.list_assets(db_session=db, status="errored")
        assert [a.id for a in only] == [ids[0]]
    engine.dispose()
