"""The suite's markers select: `-m "not e2e"` leaves no e2e test behind, `-m postgres` picks the PostgreSQL cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def collected(*args: str) -> list[str]:
    """Node ids pytest collects with these arguments (in a child process, as a developer would run it)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: every test deselected
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_not_e2e_deselects_every_e2e_test():
    paths = ("tests/e2e", "tests/integration/test_catalog.py")
    e2e = collected("-m", "e2e", *paths)
    assert any(node.startswith("tests/e2e/browser/") for node in e2e)
    assert all(node.startswith("tests/e2e/") for node in e2e)

    kept = collected("-m", "not e2e", *paths)
    assert kept, "the catalog tests are not e2e and must stay"
    assert [node for node in kept if node.startswith("tests/e2e/")] == []


def test_postgres_marks_exactly_the_postgresql_cases():
    everything = collected("tests/integration/test_catalog.py")
    postgres = collected("-m", "postgres", "tests/integration/test_catalog.py")
    assert postgres and postgres == [node for node in everything if "[postgresql" in node]
