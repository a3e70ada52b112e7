"""The README stays true: its configuration table is the Settings model, its commands are the Makefile's."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_table_matches_settings():
    readme = (ROOT / "README.md").read_text()
    documented = re.search(r"<!-- settings:start -->\n(.*)\n<!-- settings:end -->", readme, re.S)
    assert documented, "README lacks the settings markers"
    expected = runpy.run_path(str(ROOT / "scripts" / "settings_table.py"))["settings_table"]()
    assert documented.group(1) == expected, "run: python scripts/settings_table.py --write"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make up" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_docs_stand_on_their_own():
    """README and docs/ link only inside the repository: a clone has no ../shared."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), f"{path.name} links outside the repository"
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()
