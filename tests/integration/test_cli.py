"""The streamstack command as a user types it: keys, upload over tus, assets list/show/delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def cli_env(platform, live_api, admin_key):
    return {**os.environ, "STREAMSTACK_DATA_DIR": str(platform.settings.data_dir),
            "STREAMSTACK_API_URL": live_api.url, "STREAMSTACK_API_KEY": admin_key}


def run(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamstack", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_keys_create_prints_the_key_alone_when_piped(cli_env):
    result = run(cli_env, "keys", "create", "--name", "ci", "--scope", "read")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("ssk_")
    listing = run(cli_env, "keys", "list")
    assert "ci" in listing.stdout and result.stdout.strip() not in listing.stdout
    assert run(cli_env, "keys", "create", "--name", "x", "--scope", "root").returncode == 2


def test_upload_then_list_show_delete(cli_env, platform, clip_factory):
    clip = clip_factory(size="160x90", rate=10, seconds=1, audio=False)
    uploaded = run(cli_env, "upload", str(clip), "--chunk-mb", "1")
    assert uploaded.returncode == 0, uploaded.stderr
    summary = json.loads(uploaded.stdout)
    assert summary["status"] == "preparing" and summary["playback_url"].endswith(".m3u8")
    stored = b"".join(platform.store.get(f"sources/{summary['asset_id']}"))
    assert stored == clip.read_bytes()

    listed = json.loads(run(cli_env, "assets", "list").stdout)
    assert summary["asset_id"] in [a["id"] for a in listed["data"]]
    shown = run(cli_env, "assets", "show", summary["asset_id"])
    assert json.loads(shown.stdout)["id"] == summary["asset_id"]
    assert json.loads(shown.stdout)["meta"]["title"] == "clip.mp4"  # the file's name titles it
    assert run(cli_env, "assets", "delete", summary["asset_id"]).returncode == 0
    missing = run(cli_env, "assets", "show", summary["asset_id"])
    assert missing.returncode == 1 and "404" in missing.stderr


def test_upload_options_set_title_ladder_and_loudness(cli_env, clip_factory):
    clip = clip_factory(size="160x90", rate=10, seconds=1, audio=False)
    uploaded = run(cli_env, "upload", str(clip), "--title", "Cup final", "--ladder", "auto", "--normalize-audio")
    assert uploaded.returncode == 0, uploaded.stderr
    asset = json.loads(run(cli_env, "assets", "show", json.loads(uploaded.stdout)["asset_id"]).stdout)
    assert (asset["meta"]["title"], asset["ladder"], asset["normalize_audio"]) == ("Cup final", "auto", True)


def test_commands_without_a_key_explain_what_to_do(cli_env):
    env = {k: v for k, v in cli_env.items() if k != "STREAMSTACK_API_KEY"}
    result = run(env, "assets", "list")
    assert result.returncode == 2 and "API key" in result.stderr


def test_live_create_list_disable_enable_reset_complete_delete(cli_env):
    created = run(cli_env, "live", "create", "--reconnect-window", "30", "--latency-mode", "standard")
    assert created.returncode == 0, created.stderr
    stream = json.loads(created.stdout)
    assert stream["latency_mode"] == "standard" and stream["stream_key"] and stream["rtmp_url"].startswith("rtmp://")
    listed = json.loads(run(cli_env, "live", "list").stdout)
    assert [s["id"] for s in listed["data"]] == [stream["id"]]
    assert json.loads(run(cli_env, "live", "disable", stream["id"]).stdout)["status"] == "disabled"
    assert json.loads(run(cli_env, "live", "enable", stream["id"]).stdout)["status"] == "idle"
    reset = json.loads(run(cli_env, "live", "reset-key", stream["id"]).stdout)
    assert reset["stream_key"] != stream["stream_key"]
    assert f"publish:{reset['stream_key']}" in reset["srt_url"] and stream["stream_key"] not in reset["srt_url"]
    assert reset["srt_url"].split("passphrase=")[1] != stream["srt_url"].split("passphrase=")[1], "reset with the key"
    complete = run(cli_env, "live", "complete", stream["id"])
    assert complete.returncode != 0 and "409" in complete.stderr and "no session" in complete.stderr
    assert json.loads(run(cli_env, "live", "show", stream["id"]).stdout)["id"] == stream["id"]
    assert run(cli_env, "live", "delete", stream["id"]).returncode == 0
    assert run(cli_env, "live", "show", stream["id"]).returncode != 0


def test_live_simulcast_add_list_remove(cli_env):
    stream = json.loads(run(cli_env, "live", "create").stdout)
    added = run(cli_env, "live", "simulcast", "add", stream["id"], "rtmps://live.example.invalid/app",
                "--stream-key", "cli-key-123456789", "--passthrough", "youtube")
    assert added.returncode == 0, added.stderr
    target = json.loads(added.stdout)
    assert target["status"] == "idle" and target["stream_key"] == "cli-key-123456789"
    listed = json.loads(run(cli_env, "live", "simulcast", "list", stream["id"]).stdout)
    assert [(t["id"], t["passthrough"]) for t in listed["data"]] == [(target["id"], "youtube")]
    refused = run(cli_env, "live", "simulcast", "add", stream["id"], "https://live.example.invalid/app")
    assert refused.returncode == 1 and "422" in refused.stderr and "rtmp:// or rtmps://" in refused.stderr
    assert run(cli_env, "live", "simulcast", "remove", stream["id"], target["id"]).returncode == 0
    assert json.loads(run(cli_env, "live", "simulcast", "list", stream["id"]).stdout)["data"] == []
