"""The core's layout: packages by capability, each importing only what its docstring allows, no cycles, no import
hidden inside a function, no file that has grown past one job's size."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
MAX_LINES = 400

# What each part of core may import (besides itself). A part is a package (core/<name>/) or a top-level module.
ALLOWED = {
    "system": set(),
    "data": set(),
    "networks": {"data"},
    "formatting": {"data", "networks"},
    "metrics": {"formatting"},
    "storage": {"system", "data", "networks", "metrics"},
    "training": {"system", "data", "networks", "metrics", "storage"},
    "analysis": {"system", "data", "networks", "metrics", "storage", "formatting"},
    "queue": {"system", "data", "networks", "storage", "training", "formatting"},
    "classroom": {"system", "networks", "storage", "metrics", "analysis", "formatting", "queue"},
    "explain": {"system", "data", "networks", "storage"},
    "settings": {"storage"},
    "cli": {"system", "data", "networks", "formatting", "metrics", "storage", "training", "analysis", "queue", "classroom",
            "explain", "settings"},
    "__main__": {"cli"},
    "__init__": set(),
}


def part_of(path: Path) -> str:
    relative = path.relative_to(CORE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def core_imports(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    """Every import of core in a module, with the node it is in: (import statement, imported part)."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "core":
                names = [alias.name for alias in node.names]
            elif node.module.startswith("core."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".")[1] for alias in node.names if alias.name.startswith("core.")]
        found += [(node, name) for name in names]
    return found


def modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_says_what_it_owns_and_what_it_may_import():
    packages = [p for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert {p.name for p in packages} <= set(ALLOWED)
    for package in packages:
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring and "May import" in docstring, f"core/{package.name}/__init__.py must say what it may import"


def test_each_part_imports_only_what_it_may_and_the_parts_form_no_cycle():
    graph: dict[str, set[str]] = {part: set() for part in ALLOWED}
    wrong = []
    for path in modules():
        part = part_of(path)
        for _, imported in core_imports(ast.parse(path.read_text())):
            if imported != part:
                graph[part].add(imported)
                if imported not in ALLOWED[part]:
                    wrong.append(f"{path.relative_to(CORE.parent)} imports core.{imported}")
    assert not wrong, "\n".join(wrong)
    graphlib.TopologicalSorter(graph).static_order()  # raises CycleError naming the cycle


def test_no_import_of_core_is_hidden_inside_a_function():
    hidden = []
    for path in modules():
        tree = ast.parse(path.read_text())
        top_level = set(map(id, tree.body))
        for node, imported in core_imports(tree):
            if id(node) not in top_level:
                hidden.append(f"{path.relative_to(CORE.parent)}:{node.lineno} imports core.{imported} inside a function")
    assert not hidden, "\n".join(hidden)


def test_no_module_in_core_is_past_one_jobs_size():
    long = [f"{p.relative_to(CORE.parent)}: {n} lines" for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, "\n".join(long)


def test_the_checker_sees_a_forbidden_import_and_a_hidden_one():
    tree = ast.parse("from core.classroom import rules\n\ndef f():\n    from core.storage import runs\n")
    found = core_imports(tree)
    assert [name for _, name in found] == ["classroom", "storage"]
    assert "classroom" not in ALLOWED["storage"] and id(found[1][0]) not in set(map(id, tree.body))
