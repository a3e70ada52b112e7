"""The console in a real browser: sign-in with an API key, a tus upload with its progress bar, the asset list."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.browser.conftest import screenshot, sign_in


def test_a_wrong_key_is_refused_with_a_message(page, stack):
    page.goto(stack.api.url + "/")
    page.fill("#api-key", "sk_not-a-real-key")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "unknown or revoked" in page.inner_text("#signin-error")
    screenshot(page, "console-signin.png")
    assert page.evaluate("sessionStorage.length") == 0


def test_sign_in_then_tus_upload_reaches_100_percent_and_the_asset_is_listed(page, stack, clip: Path):
    sign_in(page, stack)
    assert page.evaluate("sessionStorage.getItem('streamstack.apiKey')") == stack.key
    page.click("a[data-nav=upload]")
    page.set_input_files("#upload-file", str(clip))
    page.check("input[name=policy][value=signed]")
    page.evaluate("""() => {  // remember every percentage the bar shows, to see it move and end at 100
        window.seenProgress = [];
        const bar = document.getElementById('upload-progress');
        new MutationObserver(() => window.seenProgress.push(Number(bar.getAttribute('aria-valuenow'))))
            .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
    }""")
    page.click("#upload-start")
    page.wait_for_selector("#upload-status[data-state=done]", timeout=30_000)

    assert page.get_attribute("#upload-progress", "aria-valuenow") == "100"
    assert page.inner_text("#upload-percent") == "100%"
    seen = page.evaluate("window.seenProgress")
    assert seen and seen[-1] == 100 and seen == sorted(seen)
    page.wait_for_timeout(400)  # let the bar's width transition finish before the screenshot
    screenshot(page, "console-upload.png")

    asset_id = page.get_attribute("#upload-asset-link", "href").rsplit("/", 1)[-1]
    with stack.client() as client:
        asset = client.get(f"/v1/assets/{asset_id}").json()
    assert asset["meta"]["title"] == clip.name and asset["playback_ids"][0]["policy"] == "signed"
    page.click("a[data-nav=assets]")
    row = page.locator(f"tr[data-asset-id='{asset_id}']")  # found anew at each use: the list re-renders itself
    row.wait_for()
    assert page.inner_text(f"tr[data-asset-id='{asset_id}'] a.asset-link") == clip.name  # the title, not the id
    screenshot(page, "console-assets.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    screenshot(page, "console-assets-mobile.png")
    page.set_viewport_size({"width": 1440, "height": 900})

    row.click()
    page.wait_for_selector(".pending")  # no worker runs here: the asset waits for its encode
    assert "Encoding" in page.inner_text(".pending h2")
    assert page.errors == []


def test_the_tus_client_sends_chunks_and_resumes_after_an_interruption(page, stack):
    """Drives static/js/tus.js directly: 3 chunks, aborted after the first, resumed with a new client."""
    sign_in(page, stack)
    result = page.evaluate("""async () => {
        const { TusUpload } = await import('/static/js/tus.js');
        const { createUpload } = await import('/static/js/api.js');
        const body = new Blob([new Uint8Array(300 * 1024).map((_, i) => i % 251)]);
        const created = await createUpload('public', 'blob.bin');
        const first = new TusUpload(body, created.url, { chunkSize: 128 * 1024 });
        await first.declare();
        await first.patchNextChunk();
        const afterFirst = first.offset;
        const progress = [];
        const second = new TusUpload(body, created.url, { chunkSize: 128 * 1024,
                                                           onProgress: (sent) => progress.push(sent) });
        await second.start();
        return { afterFirst, resumedFrom: progress[0], final: second.offset, id: created.id };
    }""")
    assert result["afterFirst"] == 128 * 1024
    assert result["resumedFrom"] == 128 * 1024
    assert result["final"] == 300 * 1024
    with stack.client() as client:
        assert client.get(f"/v1/uploads/{result['id']}").json()["status"] != "waiting"


def test_choosing_a_half_uploaded_file_again_resumes_it_instead_of_starting_over(page, stack, clip: Path):
    """The console remembers unfinished uploads per file; here the first half was sent before a "reload"."""
    with stack.client() as client:
        upload = client.post("/v1/uploads", json={"new_asset_settings": {"meta": {"title": clip.name}}}).json()
        half = clip.stat().st_size // 2
        tus = {"Tus-Resumable": "1.0.0"}
        client.post(upload["url"], headers={**tus, "Upload-Length": str(clip.stat().st_size)}).raise_for_status()
        client.patch(upload["url"], content=clip.read_bytes()[:half], headers={
            **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).raise_for_status()
    sign_in(page, stack)
    key = f"streamstack.upload:{clip.name}:{clip.stat().st_size}:{int(clip.stat().st_mtime * 1000)}"
    page.evaluate("([key, value]) => localStorage.setItem(key, value)",
                  [key, json.dumps({"url": upload["url"], "asset_id": upload["asset_id"]})])
    page.click("a[data-nav=upload]")
    page.set_input_files("#upload-file", str(clip))
    page.evaluate("""() => {
        window.seenProgress = [];
        const bar = document.getElementById('upload-progress');
        new MutationObserver(() => window.seenProgress.push(Number(bar.getAttribute('aria-valuenow'))))
            .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
    }""")
    page.click("#upload-start")
    page.wait_for_selector("#upload-status[data-state=done]", timeout=30_000)

    assert page.get_attribute("#upload-asset-link", "href").endswith(upload["asset_id"])
    assert page.evaluate("window.seenProgress")[0] >= 49
    assert page.evaluate("([key]) => localStorage.getItem(key)", [key]) is None
    with stack.client() as client:
        assert client.get(f"/v1/uploads/{upload['id']}").json()["status"] != "waiting"
        assert len(client.get("/v1/assets").json()["data"]) == 1
