"""Simulcast end to end: ffmpeg publishes over RTMP, the ingest restreams it to a local RTMP receiver.

The receiver is ffmpeg in RTMP listen mode writing what it gets to a file, which is then decoded. A
second target points at a port nobody listens on: it goes `errored` with a reason while the first
keeps broadcasting and the live stream plays on, and once a receiver comes up there a retry reaches
it. Loopback targets are allowed only because these tests set STREAMSTACK_SIMULCAST_ALLOW_PRIVATE
(and no outbound allow-list).
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest
from sqlalchemy import select

from streamstack.webhooks.models import OutboxEvent
from tests.conftest import free_port, wait_until
from tests.e2e import test_live_rtmp
from tests.e2e.test_live_rtmp import LiveStack, _playlist_with_parts, publish
from tests.unit.media.llhls_rules import check_playlist

stack = test_live_rtmp.stack  # the RTMP ingest, API and edge fixture, with settings added below

RECEIVER_KEY = "receiver-key-0123456789"
TLS_DIR = Path(tempfile.mkdtemp(prefix="streamstack-simulcast-tls-"))  # the stack's CA file is named at collection
TRUSTED_CA = TLS_DIR / "trusted.pem"
pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("stack", [{
    "simulcast_allow_private": True, "outbound_allow_cidrs": [], "simulcast_ca_file": TRUSTED_CA}], indirect=True)]


def receiver(port: int, out: Path) -> subprocess.Popen[bytes]:
    """An RTMP server for one publisher (ffmpeg -listen), keeping what it receives as MPEG-TS, unchanged."""
    return subprocess.Popen(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-listen", "1",
         "-i", f"rtmp://127.0.0.1:{port}/relay/{RECEIVER_KEY}", "-c", "copy", "-f", "mpegts", str(out)],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def targets(live: LiveStack, stream_id: str) -> dict[str, dict]:
    """The stream's targets by passthrough label."""
    listed = httpx.get(f"{live.api}/v1/live-streams/{stream_id}/simulcast-targets", headers=live.headers)
    return {t["passthrough"]: t for t in listed.json()["data"]}


def decoded_video(path: Path) -> tuple[str, int]:
    """The received file's stream description and how many video frames decode without an error."""
    run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "info", "-i", str(path),
                          "-map", "0:v:0", "-f", "framemd5", "-"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.stderr.splitlines() if "error" in line.lower()], run.stderr
    return run.stderr, sum(1 for line in run.stdout.splitlines() if line and not line.startswith("#"))


def test_simulcast_reaches_a_local_receiver_and_a_dead_target_errors_alone(stack: LiveStack, tmp_path: Path) -> None:
    received, late_received, revived_received = tmp_path / "received.ts", tmp_path / "late.ts", tmp_path / "rev.ts"
    port, late_port, dead_port = free_port(), free_port(), free_port()
    listener = receiver(port, received)
    stream = stack.create_stream(reconnect_window=1, simulcast_targets=[
        {"url": f"rtmp://127.0.0.1:{port}/relay", "stream_key": RECEIVER_KEY, "passthrough": "receiver"},
        {"url": f"rtmp://127.0.0.1:{dead_port}/live", "stream_key": "dead-key-0123456789", "passthrough": "dead"},
    ])
    assert {t["status"] for t in stream["simulcast_targets"]} == {"idle"}
    publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 24)
    late, revived = receiver(late_port, late_received), None
    try:
        live = wait_until(lambda: (t := targets(stack, stream["id"]))["receiver"]["status"] == "broadcasting"
                          and t["dead"]["status"] == "errored" and t, 20, "one target broadcasting, one errored")
        assert live["receiver"]["error"] is None
        assert "Connection refused" in live["dead"]["error"] or "Cannot open" in live["dead"]["error"], live["dead"]
        assert "dead-key-0123456789" not in live["dead"]["error"], "the key never reaches an error message"
        assert stack.stream(stream["id"])["status"] == "active", "a failing target does not disturb the session"
        media = f"{stack.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
        check_playlist(wait_until(lambda: _playlist_with_parts(media), 20, "the live playlist"))

        added = httpx.post(f"{stack.api}/v1/live-streams/{stream['id']}/simulcast-targets", headers=stack.headers,
                           json={"url": f"rtmp://127.0.0.1:{late_port}/relay/{RECEIVER_KEY}", "passthrough": "late"})
        assert added.status_code == 201, added.text
        wait_until(lambda: targets(stack, stream["id"])["late"]["status"] == "broadcasting", 15,
                   "a target added while live starts right away")
        wait_until(lambda: late_received.exists() and late_received.stat().st_size > 50_000, 15, "late bytes")
        removed = httpx.delete(f"{stack.api}/v1/live-streams/{stream['id']}/simulcast-targets/{added.json()['id']}",
                               headers=stack.headers)
        assert removed.status_code == 204
        assert late.wait(timeout=15) is not None, "a deleted target's restream stops (its receiver's input ends)"
        assert targets(stack, stream["id"])["receiver"]["status"] == "broadcasting", "the others go on"
        revived = receiver(dead_port, revived_received)  # the dead destination comes up: a retry reaches it
        wait_until(lambda: targets(stack, stream["id"])["dead"]["status"] == "broadcasting", 20, "the retry")
        assert targets(stack, stream["id"])["dead"]["error"] is None
        assert publisher.wait(timeout=40) == 0, publisher.stderr.read() if publisher.stderr else ""
    finally:
        for process in (publisher, late, revived):
            if process is not None and process.poll() is None:
                process.kill()
    wait_until(lambda: {t["status"] for t in targets(stack, stream["id"]).values()} == {"idle"}, 20,
               "every target idle once the publisher has gone")
    try:
        listener.wait(timeout=15)
    except subprocess.TimeoutExpired:
        listener.kill()
        raise
    description, frames = decoded_video(received)
    assert re.search(r"Video: h264 .*640x360", description), description
    assert "Audio: aac" in description, "the audio is copied too"
    assert frames >= 30 * 16, f"{frames} frames: the receiver got most of the 24 s published"

    with stack.ingest.platform.sessions() as db_session:
        seen = [(e.data["passthrough"], e.type.rsplit(".", 1)[1]) for e in db_session.scalars(
            select(OutboxEvent).where(OutboxEvent.object_type == "simulcast_target").order_by(OutboxEvent.created_at))]
    assert [s for p, s in seen if p == "receiver"] == ["created", "starting", "broadcasting", "idle"], seen
    assert [s for p, s in seen if p == "dead"] == ["created", "starting", "errored", "broadcasting", "idle"], seen
    assert [s for p, s in seen if p == "late"][-1] == "deleted", seen


def test_a_publisher_that_drops_and_returns_is_restreamed_again(stack: LiveStack, tmp_path: Path) -> None:
    """Targets follow the publisher: idle while it is gone (the session waits), broadcasting again on its return."""
    port = free_port()
    stream = stack.create_stream(reconnect_window=30, new_asset_settings={"playback_policy": ["public"]},
                                 simulcast_targets=[
        {"url": f"rtmp://127.0.0.1:{port}/relay", "stream_key": RECEIVER_KEY, "passthrough": "receiver"}])
    files = [tmp_path / "first.ts", tmp_path / "second.ts"]
    for received in files:
        listener = receiver(port, received)
        publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 6)
        try:
            wait_until(lambda: targets(stack, stream["id"])["receiver"]["status"] == "broadcasting", 20,
                       "broadcasting")
            assert publisher.wait(timeout=30) == 0
            wait_until(lambda: targets(stack, stream["id"])["receiver"]["status"] == "idle", 15, "idle while gone")
            assert listener.wait(timeout=15) is not None
        finally:
            for process in (publisher, listener):
                if process.poll() is None:
                    process.kill()
        assert stack.stream(stream["id"])["active_asset_id"], "the session waits for the publisher"
    for received in files:
        description, frames = decoded_video(received)
        assert re.search(r"Video: h264 .*640x360", description) and frames >= 30 * 3, (frames, description)
    completed = httpx.put(f"{stack.api}/v1/live-streams/{stream['id']}/complete", headers=stack.headers)
    assert completed.status_code == 200


def self_signed(name: str) -> tuple[Path, Path]:
    """A certificate for localhost and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))  # fmt: skip
    cert_path, key_path = TLS_DIR / f"{name}.pem", TLS_DIR / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@contextmanager
def tls_front(cert: Path, key: Path, upstream: int) -> Iterator[int]:
    """RTMPS as a service runs it: TLS terminated in front of an RTMP server (ffmpeg cannot listen on rtmps)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            try:
                client.settimeout(None)
                secure = context.wrap_socket(client, server_side=True)
                backend = socket.create_connection(("127.0.0.1", upstream))
            except OSError:  # a refused handshake (untrusted certificate) or no RTMP server behind
                client.close()
                continue
            threading.Thread(target=pipe, args=(secure, backend), daemon=True).start()
            threading.Thread(target=pipe, args=(backend, secure), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_rtmps_targets_are_verified_against_the_ca_bundle(stack: LiveStack, tmp_path: Path) -> None:
    """A destination whose certificate the CA file vouches for receives the stream; another one is refused."""
    trusted_cert, trusted_key = self_signed("trusted")
    TRUSTED_CA.write_bytes(trusted_cert.read_bytes())
    stranger_cert, stranger_key = self_signed("stranger")
    received = tmp_path / "rtmps.ts"
    port, unused = free_port(), free_port()
    listener = receiver(port, received)
    with tls_front(trusted_cert, trusted_key, port) as trusted, tls_front(stranger_cert, stranger_key, unused) as odd:
        stream = stack.create_stream(reconnect_window=1, simulcast_targets=[
            {"url": f"rtmps://localhost:{trusted}/relay", "stream_key": RECEIVER_KEY, "passthrough": "trusted"},
            {"url": f"rtmps://localhost:{odd}/relay", "stream_key": "k-0123456789", "passthrough": "stranger"}])
        publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 8)
        try:
            live = wait_until(lambda: (t := targets(stack, stream["id"]))["trusted"]["status"] == "broadcasting"
                              and t["stranger"]["status"] == "errored" and t, 20, "rtmps verified")
            assert "certificate verify failed" in live["stranger"]["error"], live["stranger"]
            assert publisher.wait(timeout=30) == 0
        finally:
            if publisher.poll() is None:
                publisher.kill()
        try:
            listener.wait(timeout=15)
        except subprocess.TimeoutExpired:
            listener.kill()
            raise
    description, frames = decoded_video(received)
    assert re.search(r"Video: h264 .*640x360", description) and frames >= 30 * 4, (frames, description)


def test_an_srt_publisher_is_restreamed_like_an_rtmp_one(stack: LiveStack, tmp_path: Path) -> None:
    """Simulcast reads the session's relay, not nginx: an SRT publisher reaches the target as an RTMP one does."""
    port, received = free_port(), tmp_path / "from-srt.ts"
    listener = receiver(port, received)
    stream = stack.create_stream(reconnect_window=1, simulcast_targets=[
        {"url": f"rtmp://127.0.0.1:{port}/relay", "stream_key": RECEIVER_KEY, "passthrough": "receiver"}])
    publisher = publish(stream["srt_url"], 10)
    try:
        wait_until(lambda: targets(stack, stream["id"])["receiver"]["status"] == "broadcasting", 20, "broadcasting")
        assert publisher.wait(timeout=40) == 0, publisher.stderr.read() if publisher.stderr else ""
        wait_until(lambda: targets(stack, stream["id"])["receiver"]["status"] == "idle", 20, "idle once it left")
        listener.wait(timeout=15)
    finally:
        for process in (publisher, listener):
            if process.poll() is None:
                process.kill()
    description, frames = decoded_video(received)
    assert re.search(r"Video: h264 .*640x360", description) and "Audio: aac" in description, description
    assert frames >= 30 * 6, f"{frames} frames: the receiver got most of the 10 s published"
    assert targets(stack, stream["id"])["receiver"]["error"] is None
