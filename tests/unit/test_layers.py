"""The layering contract, read from the code's own imports (docs/architecture.md explains the layers).

Each top-level unit of `streamstack` sits in one layer and imports only from its own layer or those
below; media never imports a domain; a domain never imports a concrete adapter (it receives an
ObjectStore, Queue or Encoder); and no units import each other in a ring. Every import counts, also
those inside functions and under TYPE_CHECKING. The Alembic scripts under db/migrations are run by
Alembic, not imported, and are left out (env.py holds the roll-call of every table).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import streamstack

PACKAGE_DIR = Path(streamstack.__file__).parent

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    # settings/errors and the value helpers everything may use (__init__ holds only the version)
    ("settings/errors", frozenset({"settings", "errors", "numeric", "timestamps", "__init__"})),
    ("adapters", frozenset({"aws", "storage", "queue", "secrets", "db", "observability", "outbound",
                            "signed_urls", "idempotency", "process_locks", "autoscaling"})),
    ("media", frozenset({"media"})),
    ("platform", frozenset({"platform", "deps"})),
    ("domains", frozenset({"assets", "uploads", "playback", "webhooks", "keys", "live"})),
    ("events/delivery", frozenset({"events", "delivery"})),
    ("api/cli/web", frozenset({"api", "cli", "web", "__main__"})),
)
DOMAINS = dict(LAYERS)["domains"]
CONCRETE_ADAPTERS = frozenset({
    "streamstack.storage.local", "streamstack.storage.s3", "streamstack.storage.factory",
    "streamstack.queue.sqlite", "streamstack.queue.sqs", "streamstack.queue.factory",
})
EXCLUDED = ("streamstack.db.migrations",)


def package_sources() -> dict[str, str]:
    """Module name -> source of every module in the installed package."""
    sources = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        if not name.startswith(EXCLUDED):
            sources[name] = path.read_text()
    return sources


def imported_modules(module: str, source: str) -> set[str]:
    """Every `streamstack...` module the source imports, relative imports resolved."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return {name for name in found if name == "streamstack" or name.startswith("streamstack.")}


def unit_of(module: str) -> str:
    """The top-level unit: `streamstack.assets.views` -> `assets`, `streamstack` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_index(unit: str) -> int | None:
    return next((i for i, (_, units) in enumerate(LAYERS) if unit in units), None)


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every broken rule, as a sentence naming the importing module and what it imported."""
    known = set(sources)
    problems = [f"{unit!r} ({module}) is in no layer: place it in LAYERS and docs/architecture.md"
                for module in sources if layer_index(unit := unit_of(module)) is None]
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        unit = unit_of(module)
        for target in imported_modules(module, source):
            if target not in known and target.rsplit(".", 1)[0] in known:
                target = target.rsplit(".", 1)[0]  # `from pkg import name`: the name is not a module
            problems += rule_violations(module, unit, target)
            if unit_of(target) != unit:
                graph.setdefault(unit, set()).add(unit_of(target))
    problems += ring_violations(graph)
    return problems


def rule_violations(module: str, unit: str, target: str) -> list[str]:
    found = []
    target_unit = unit_of(target)
    here, there = layer_index(unit), layer_index(target_unit)
    if here is not None and there is not None and there > here:
        found.append(f"{module} imports {target}: layer {LAYERS[here][0]!r} may not import the higher layer "
                     f"{LAYERS[there][0]!r}")
    if unit == "media" and target_unit in DOMAINS:
        found.append(f"{module} imports {target}: media never imports a domain")
    if unit in DOMAINS and target in CONCRETE_ADAPTERS:
        found.append(f"{module} imports {target}: a domain never imports a concrete adapter "
                     "(take the protocol from the Platform)")
    return found


def ring_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return [f"units import each other in a ring: {' -> '.join(exc.args[1])}"]
    return []


def test_the_package_keeps_its_layers():
    assert violations(package_sources()) == []


@pytest.mark.parametrize("line", [
    "from streamstack.assets import service",
    "from streamstack.assets.models import Asset",
    "import streamstack.assets.service",
    "from ..assets import service",
])
def test_an_import_of_a_domain_inside_media_fails_the_contract(line: str):
    sources = {**package_sources(), "streamstack.media.sneaky": f"{line}\n"}
    problems = violations(sources)
    assert any(p.startswith("streamstack.media.sneaky imports streamstack.assets")
               and "media never imports a domain" in p for p in problems), problems
    assert any("ring" in p for p in problems)  # assets reaches media through the platform's encoder


def test_a_domain_importing_a_concrete_store_fails_the_contract():
    sources = {**package_sources(), "streamstack.uploads.sneaky": "from streamstack.storage.s3 import S3ObjectStore\n"}
    assert any("a domain never imports a concrete adapter" in p for p in violations(sources))


def test_a_new_top_level_unit_must_be_placed_in_a_layer():
    sources = {**package_sources(), "streamstack.newthing": "from streamstack.settings import Settings\n"}
    assert any("'newthing'" in p and "is in no layer" in p for p in violations(sources))


def test_alembic_roll_call_names_every_module_that_declares_tables():
    """A table missing from env.py would be invisible to autogenerate; the roll-call must be complete."""
    declaring = {module for module, source in package_sources().items()
                 if any(isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "Base" for b in node.bases)
                        for node in ast.walk(ast.parse(source)))}
    env = ast.parse((PACKAGE_DIR / "db" / "migrations" / "env.py").read_text())
    [roll_call] = [node.value for node in env.body if isinstance(node, ast.Assign)
                   and any(getattr(t, "id", None) == "TABLE_MODULES" for t in node.targets)]
    assert set(ast.literal_eval(roll_call)) == declaring
