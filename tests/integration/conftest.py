"""API fixtures shared by the integration tests: an in-process client and an admin key's headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from streamstack.api import create_app
from tests.conftest import bearer


@pytest.fixture
def client(platform):  # type: ignore[no-untyped-def]
    with TestClient(create_app(platform)) as test_client:
        yield test_client


@pytest.fixture
def headers(admin_key: str) -> dict[str, str]:
    return bearer(admin_key)
