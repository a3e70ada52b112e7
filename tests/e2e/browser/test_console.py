"""The console in a real browser: sign-in with an API key, a tus upload with its progress bar, the asset list."""

from __future__ import annotations

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
    assert asset["passthrough"] == clip.name and asset["playback_ids"][0]["policy"] == "signed"
    page.click("a[data-nav=assets]")
    row = page.wait_for_selector(f"tr[data-asset-id='{asset_id}']")
    assert clip.name in row.inner_text()
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
