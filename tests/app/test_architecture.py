"""The house rules of `bot/` (docs/architecture.md), checked by walking every import.

Every import counts, including those under `TYPE_CHECKING` and inside functions: a type-only
import upward still means a reader of the lower package must know the upper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS: dict[str, int] = {
    "bot.core": 0,
    "bot.producer": 1,
    "bot.storage": 1,
    "bot.cluster": 2,
    "bot.access": 2,
    "bot.songs": 3,
    "bot.voice": 4,
    "bot.ops": 4,
    "bot.i18n": 1,  # issue 25: catalogs and locale choice; below everything that talks to members
    "bot.billing": 3,  # issue 21: server API keys, budgets, role caps, usage (beside bot.songs)
    "bot.playlists": 4,  # issue 23: playlists and radio picks (beside bot.voice)
    "bot.contests": 4,  # issue 24: contest phases, entries, votes, leaderboard
    "bot.web": 4,  # issue 22: the gallery, song pages and share links
    "bot.app": 5,
    "bot.__main__": 6,
    "cogs": 5,
}
"""Each package's height: a module may import its own package and packages strictly lower."""

MAX_LINES = 500
"""A file a reader can hold in their head; past it, split along the seams a reader looks for."""


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("bot", "cogs"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The modules of `bot` and `cogs` that `name` imports, however it imports them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> tuple[str, int] | None:
    for package, height in sorted(LAYERS.items(), key=lambda item: -len(item[0])):
        if module == package or module.startswith(package + "."):
            return package, height
    return None


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [m for m in MODULES if m not in ("bot", "cogs") and _layer(m) is None]
    assert homeless == [], "add these to a package (and to LAYERS if it is a new one)"


def test_no_package_imports_one_above_it() -> None:
    upward = []
    for module, targets in GRAPH.items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if here is None or there is None or here[0] == there[0]:
                continue
            if there[1] >= here[1] and not (here[0] == "cogs" and there[0] == "bot.app"):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_nothing_below_the_app_knows_music_bot() -> None:
    """No name `MusicBot` in the code below `bot.app` (annotations included; docstrings may say
    which protocol it implements): lower packages take a protocol or a `discord.Client`."""
    offenders = []
    for name, path in MODULES.items():
        layer = _layer(name)
        if layer is None or layer[1] >= LAYERS["bot.app"]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            named = (
                (isinstance(node, ast.Name) and node.id == "MusicBot")
                or (isinstance(node, ast.Attribute) and node.attr == "MusicBot")
                or (isinstance(node, ast.alias) and node.name == "MusicBot")
            )
            if named:
                offenders.append(f"{name}:{node.lineno}" if hasattr(node, "lineno") else name)
    assert offenders == []


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the whole import graph: every one is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


PACKAGES = [p for p in LAYERS if p.startswith("bot.") and p in MODULES and p != "bot.__main__"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_owns_and_may_import(package: str) -> None:
    docstring = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    assert "Owns" in docstring
    assert "import" in docstring


def test_no_file_outgrows_a_reader() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
