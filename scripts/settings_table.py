"""Prints (or with --write, updates) the README configuration table from Settings, so docs cannot drift."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from streamstack.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
MARKERS = re.compile(r"<!-- settings:start -->\n.*\n<!-- settings:end -->", re.S)


def settings_table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{default}`"
        lines.append(f"| `STREAMSTACK_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines)


def write_readme() -> None:
    block = "<!-- settings:start -->\n" + settings_table() + "\n<!-- settings:end -->"
    README.write_text(MARKERS.sub(lambda _m: block, README.read_text()))


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(settings_table())
