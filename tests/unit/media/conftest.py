"""A local-folder object store for media tests (the real adapter, rooted in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamstack.storage.local import LocalObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", bucket="test-media")
