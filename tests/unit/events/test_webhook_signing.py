"""Standard Webhooks signing, secrets, backoff and the Mux-shaped payload, without a database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from streamstack.webhooks.dispatcher import Backoff, payload_body, signature_headers
from streamstack.webhooks.models import OutboxEvent
from streamstack.webhooks.service import InvalidWebhook, check_event_types, generate_secret, secret_key


def test_signature_matches_the_published_standard_webhooks_test_vector():
    headers = signature_headers(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330,
                                body=b'{"test": 2432232314}')
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_generated_secrets_are_whsec_base64_of_24_random_bytes():
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    assert secret_key(first) == base64.b64decode(first.removeprefix("whsec_"))


@pytest.mark.parametrize("secret, reason", [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
    ("whsec_not base64!", "must be base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "24-64 bytes"),
])
def test_malformed_secrets_are_refused_with_the_reason(secret, reason):
    with pytest.raises(InvalidWebhook, match=reason):
        secret_key(secret)


def test_event_types_must_be_known_and_are_deduplicated():
    assert check_event_types(["video.asset.ready", "video.asset.ready", "*"]) == ["video.asset.ready", "*"]
    with pytest.raises(InvalidWebhook, match="video.asset.redy"):
        check_event_types(["video.asset.redy"])


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap():
    backoff = Backoff(base_seconds=5, cap_seconds=3600)
    for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (8, 640), (20, 3600)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_default_backoff_keeps_retrying_for_about_a_day_of_attempts():
    backoff = Backoff()
    elapsed, attempts = 0.0, 0
    while elapsed < 24 * 3600:
        attempts += 1
        elapsed += backoff.delay(attempts)
    assert 20 <= attempts <= 60


def test_payload_has_the_mux_envelope():
    event = OutboxEvent(id="evt_1", type="video.asset.ready", object_type="asset", object_id="as_1",
                        data={"id": "as_1", "status": "ready"},
                        created_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    assert json.loads(payload_body(event)) == {
        "type": "video.asset.ready", "id": "evt_1", "created_at": "2026-01-02T03:04:05.678Z",
        "object": {"type": "asset", "id": "as_1"}, "data": {"id": "as_1", "status": "ready"},
    }
