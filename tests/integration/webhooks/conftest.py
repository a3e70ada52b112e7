"""A real HTTP receiver on a free port that verifies Standard Webhooks signatures the way a consumer does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import claim_port, reserve_port

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers with `statuses` in turn (then 200), recording every request and whether its signature held."""

    port: int
    secret: str = SECRET
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    delay_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        """Standard Webhooks verification, written independently of the sender's code."""
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
        candidates = [s.partition(",")[2] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
        return fresh and any(hmac.compare_digest(expected, c) for c in candidates)

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if r.verified]


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        receiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.requests.append(Received(headers, body, receiver.verify(headers, body)))
        time.sleep(receiver.delay_seconds)
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        self.send_response(status if receiver.requests[-1].verified else 401)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Listen on the receiver's reserved port (a restart binds it again)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.receiver.port), _Handler, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = claim_port(self.receiver.port)
        self.server.server_activate()
        self.server.receiver = self.receiver  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver_server() -> Iterator[ReceiverServer]:
    server = ReceiverServer(Receiver(port=reserve_port()))  # refused until started
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: ReceiverServer) -> Receiver:
    receiver_server.start()
    return receiver_server.receiver
