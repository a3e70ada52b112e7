"""The console's Live page: create a stream, copy its RTMP URL, reveal and regenerate its key.

Playback of a live publish on the same page is in test_live_playback.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from streamstack.live.service import refuse_publish
from tests.conftest import new_api_key, wait_until
from tests.e2e.browser.conftest import Stack, create_stream, get_stream, sign_in


def test_the_live_page_creates_a_stream_and_keeps_its_key_hidden_until_revealed(stack: Stack, page: Any) -> None:
    sign_in(page, stack)
    page.click('[data-nav="live"]')
    page.wait_for_selector("#live-create")
    page.check('input[name="latency"][value="standard"]')
    page.fill("#live-reconnect", "30")
    page.click("#live-create")
    page.wait_for_function("() => location.hash.startsWith('#/live/ls_')")
    stream_id = page.evaluate("() => location.hash").rsplit("/", 1)[1]
    created = get_stream(stack, stream_id)
    assert (created["latency_mode"], created["reconnect_window"], created["status"]) == ("standard", 30, "idle")
    assert created["new_asset_settings"]["playback_policy"] == ["public"], "each session is recorded"
    page.wait_for_selector('#live-status [data-status="idle"]')
    assert page.input_value("#rtmp-url") == created["rtmp_url"]
    key = created["stream_key"]
    assert page.input_value("#stream-key") != key and key not in page.content(), "the key is hidden until revealed"
    page.click("#reveal-key")
    assert page.input_value("#stream-key") == key
    page.click("#reveal-key")
    assert key not in page.content()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#regenerate-key")
    new_key = wait_until(lambda: (k := get_stream(stack, stream_id)["stream_key"]) != key and k, 10, "a new key")
    page.click("#reveal-key")
    page.wait_for_function("([k]) => document.querySelector('#stream-key').value === k", arg=[new_key])
    page.wait_for_selector("#player-waiting")  # no publisher: no player, a message
    assert page.is_hidden("#last-refusal"), "no publisher was refused yet"
    with stack.platform.sessions() as db_session:  # as the ingest records an audio-only publisher
        refuse_publish(db_session=db_session, live_stream_id=stream_id, reason="no_video",
                       message="The stream carries audio and no video.", settings=stack.platform.settings)
    page.reload()
    page.wait_for_selector("#last-refusal:not([hidden])")
    assert "The stream carries audio and no video." in page.inner_text("#last-refusal")
    assert not page.errors, page.errors

    page.click('.breadcrumb a[href="#/live"]')
    page.wait_for_selector(f'#live-table tr[data-live-stream-id="{stream_id}"] [data-status="idle"]')


def test_a_read_only_key_sees_the_live_page_without_the_stream_key(stack: Stack, page: Any) -> None:
    stream = create_stream(stack)
    reader = new_api_key(stack.platform, "read", name="viewer")
    with httpx.Client(base_url=stack.api.url, headers={"Authorization": f"Bearer {reader}"}) as client:
        assert client.get(f"/v1/live-streams/{stream['id']}").json()["stream_key"] is None
    page.goto(stack.api.url + "/")
    page.fill("#api-key", reader)
    page.click("#signin-submit")
    page.wait_for_selector("#shell:not([hidden])")
    page.goto(f"{stack.api.url}/#/live/{stream['id']}")
    page.wait_for_selector("#key-read-only:not([hidden])")
    assert page.is_hidden("#reveal-key") and stream["stream_key"] not in page.content()
