"""How a restream dials its target: OBS's app/key split, the checked address pinned, the SSRF guard at each start."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from streamstack.live.models import SimulcastTarget
from streamstack.live.restream import Destination, destination, restream_command
from streamstack.outbound import UrlRefused
from tests.conftest import make_settings


def target(url: str, key: str | None = None) -> SimulcastTarget:
    return SimulcastTarget(id="st_1", live_stream_id="ls_1", url=url, stream_key=key, status="idle")


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, outbound_allow_cidrs=[])


def test_a_key_is_the_play_path_after_the_whole_server_path_and_the_checked_address_is_dialled(settings) -> None:  # type: ignore[no-untyped-def]
    with mock.patch("streamstack.outbound.resolve", return_value=["93.184.216.34"]), \
            mock.patch("streamstack.live.restream.resolve", return_value=["93.184.216.34"]):  # fmt: skip
        dial = destination(target("rtmp://ingest.example.com/app/instance/", "k3y"), settings)
    assert dial == Destination("rtmp://93.184.216.34:1935/app/instance/k3y", "app/instance",
                               "rtmp://ingest.example.com/app/instance", "k3y")  # fmt: skip
    command = restream_command(dial)
    assert command[command.index("-c") + 1] == "copy", "no re-encode"
    assert command[-1] == dial.url and command[command.index("-rtmp_app") + 1] == "app/instance"
    assert "-ca_file" not in command


def test_rtmps_keeps_the_name_for_tls_and_verifies_against_a_ca_bundle(settings) -> None:  # type: ignore[no-untyped-def]
    with mock.patch("streamstack.outbound.resolve", return_value=["93.184.216.34"]):
        dial = destination(target("rtmps://live.example.com:443/app", "k3y"), settings)
    assert dial.url == "rtmps://live.example.com:443/app/k3y" and dial.tc_url is None
    command = restream_command(dial)
    assert Path(command[command.index("-ca_file") + 1]).is_file()


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_start(settings) -> None:  # type: ignore[no-untyped-def]
    with mock.patch("streamstack.outbound.resolve", return_value=["10.0.0.5"]), \
            pytest.raises(UrlRefused, match="non-public address"):  # fmt: skip
        destination(target("rtmp://rebinding.example.com/app", "k"), settings)
    with mock.patch("streamstack.outbound.resolve", return_value=["93.184.216.34"]), \
            mock.patch("streamstack.live.restream.resolve", return_value=["127.0.0.1"]), \
            pytest.raises(UrlRefused, match="non-public address"):  # fmt: skip
        destination(target("rtmp://rebinding.example.com/app", "k"), settings)  # changed between check and dial
