"""The code stays lint-clean and type-correct: the same ruff and mypy runs as the GitHub workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    result = run("ruff", "check", "src", "tests", "bench", "scripts")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_is_clean():
    result = run("mypy", "src/streamstack")
    assert result.returncode == 0, result.stdout[-4000:]
