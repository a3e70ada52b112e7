"""Load the Terraform tree with python-hcl2 into plain dicts, and small helpers to walk it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "infra" / "terraform"
MODULES_DIR = TF_ROOT / "modules"
ENVIRONMENTS_DIR = TF_ROOT / "environments"
MODULE_NAMES = (
    "network",
    "api_service",
    "cdn",
    "event_processor",
    "encoding",
    "database",
    "monitoring",
    "state",
    "private_bucket",
    "kms_key",
    "web_acl",
    "live_ingest",
    "live_managed",
)
ENVIRONMENTS = ("dev", "staging", "prod")

_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
_REF = re.compile(r"^\$\{(local|var)\.([A-Za-z0-9_]+)\}$")


def tf_files() -> list[Path]:
    return sorted(p for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts)


@cache
def load(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return hcl2.load(fh, serialization_options=_OPTIONS)


def load_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of a Terraform directory (one module), merged by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for key, blocks in load(path).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def module_dirs() -> list[Path]:
    return [MODULES_DIR / name for name in MODULE_NAMES]


def all_roots() -> list[Path]:
    """Every directory holding .tf files: modules, the root composition, bootstrap, environments."""
    return sorted({p.parent for p in tf_files()})


def resources(directory: Path, kind: str = "resource") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource (or data source with kind="data") in a directory."""
    for block in load_dir(directory).get(kind, []):
        for rtype, named in block.items():
            for rname, body in named.items():
                yield rtype, rname, body


def resource(directory: Path, rtype: str, rname: str, kind: str = "resource") -> dict[str, Any]:
    for t, n, body in resources(directory, kind):
        if (t, n) == (rtype, rname):
            return body
    raise KeyError(f"{kind} {rtype}.{rname} not in {directory}")


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in load_dir(directory).get("variable", []):
        out.update(block)
    return out


def outputs(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in load_dir(directory).get("output", []):
        out.update(block)
    return out


def locals_of(directory: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in load_dir(directory).get("locals", []):
        out.update(block)
    return out


def resolve(value: Any, directory: Path) -> Any:
    """Follow a bare `${local.x}` or `${var.x}` (to its default) reference, repeatedly."""
    seen = 0
    while isinstance(value, str) and (m := _REF.match(value)) and seen < 10:
        seen += 1
        kind, name = m.groups()
        if kind == "local":
            value = locals_of(directory)[name]
        else:
            value = variables(directory)[name].get("default", value)
            if isinstance(value, str) and _REF.match(value):
                break
    return value


def one(block: Any) -> dict[str, Any]:
    """A nested block is a list of one dict."""
    if isinstance(block, list):
        assert len(block) == 1, block
        return block[0]
    return block


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
