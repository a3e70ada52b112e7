"""A caption file added to an asset plays as subtitles in the console's hls.js player (real pipeline, Chromium)."""

from __future__ import annotations

import pytest

from tests.e2e.browser.conftest import screenshot, sign_in, upload_via_api, wait_ready

SRT = ("1\n00:00:00,500 --> 00:00:04,000\nHello from the <i>captions</i> test\n\n"
       "2\n00:00:04,500 --> 00:00:07,500\nSecond line & more\n")


@pytest.mark.timeout(420)
def test_an_srt_track_is_listed_in_the_captions_menu_and_rendered_in_time(page, stack, clip):
    stack.start_worker()
    asset = wait_ready(stack, upload_via_api(stack, clip))
    with stack.client() as client:
        created = client.post(f"/v1/assets/{asset['id']}/tracks", data={"language_code": "en", "name": "English"},
                              files={"file": ("clip.srt", SRT.encode())})
        assert created.status_code == 201, created.text
        master = client.get(asset["playback_ids"][0]["url"]).text
    assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en"' in master
    assert ',SUBTITLES="subs"' in master

    sign_in(page, stack)
    page.goto(f"{stack.api.url}/#/assets/{asset['id']}")
    page.wait_for_function("() => window.streamstackPlayer?.events.some((e) => e.type === 'subtitles')",
                           timeout=30_000)
    assert page.is_visible(".captions-menu")
    assert page.eval_on_selector_all(".captions-menu option", "options => options.map((o) => o.textContent)") == [
        "Off", "English (en)"]
    page.select_option(".captions-menu", "0")
    page.evaluate("() => { const v = window.streamstackPlayer.video; v.muted = true; return v.play(); }")
    cue = page.wait_for_function("""() => {
        const video = window.streamstackPlayer.video;
        const showing = [...video.textTracks].find((t) => t.mode === 'showing');
        const active = showing?.activeCues?.[0];
        return active ? {text: active.text, start: active.startTime, end: active.endTime,
                         label: showing.label, lang: showing.language, at: video.currentTime} : null;
    }""", timeout=30_000).json_value()
    assert cue["text"] == "Hello from the <i>captions</i> test"
    assert (cue["label"], cue["lang"]) == ("English", "en")
    assert cue["start"] == pytest.approx(0.5, abs=0.05) and cue["end"] == pytest.approx(4.0, abs=0.05)
    page.wait_for_timeout(300)
    screenshot(page, "console-captions.png")
    second = page.wait_for_function("""() => {
        const showing = [...window.streamstackPlayer.video.textTracks].find((t) => t.mode === 'showing');
        const active = showing?.activeCues?.[0];
        return active && active.startTime > 4 ? active.text : null;
    }""", timeout=30_000).json_value()
    assert second == "Second line &amp; more"  # VTTCue.text is the raw cue text; the renderer shows "&"
    assert page.errors == []
