"""The architecture, checked: engine/ and tui/ import only downward, with no cycles.

Every import counts, those inside functions and under TYPE_CHECKING too: a lazy import is still
an arrow in the design. Implicit imports of a parent package's __init__ do not.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# engine's layers, lowest first: a module may import its own layer and those before it.
ENGINE_LAYERS = ("contract", "runs", "data", "model", "lens", "training", "process", "cli")
TORCH_FREE = ("engine.contract", "engine.runs", "engine.lens.head_roles", "engine.lens.sampling")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str) -> set[str]:
    """The absolute names a module imports (modules, or names inside them)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(*packages: str) -> dict[str, set[str]]:
    """module -> the modules of these packages it imports."""
    paths = {module_name(p): p for pkg in packages for p in (ROOT / pkg).rglob("*.py")}
    return {
        name: {target for target in imported(path, name) if target in paths and target != name}
        for name, path in paths.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def engine_layer(module: str) -> int:
    """Its layer's place in ENGINE_LAYERS; engine itself (the public API) sits above them all."""
    parts = module.split(".")
    return ENGINE_LAYERS.index(parts[1]) if len(parts) > 1 else len(ENGINE_LAYERS)


def test_every_engine_module_is_in_a_layer():
    modules = import_graph("engine")
    loose = [m for m in modules if m != "engine" and m.split(".")[1] not in ENGINE_LAYERS]
    assert loose == [], f"modules outside the layers {ENGINE_LAYERS}"


def test_no_import_cycles():
    assert cycles(import_graph("engine", "tui")) == []


def test_engine_imports_only_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph("engine").items()
        for target in targets
        if engine_layer(target) > engine_layer(module)
    ]
    assert upward == []


def test_engine_imports_no_ui_and_tui_only_the_public_api():
    engine_imports = {t for m, path in _paths("engine") for t in imported(path, m)}
    assert not {t.split(".")[0] for t in engine_imports} & {"tui", "textual", "rich", "bench"}
    # The API is `engine` itself; tui/cli.py also extends the command line, `engine.cli`.
    internal = set(import_graph("engine")) - {"engine", "engine.cli"}
    reached = {f"{m} -> {t}" for m, path in _paths("tui") for t in imported(path, m) & internal}
    assert reached == set()


def test_the_installed_packages_do_not_import_the_benchmarks():
    for package in ("engine", "tui"):
        names = {t for m, path in _paths(package) for t in imported(path, m)}
        assert not any(n == "bench" or n.startswith("bench.") for n in names)


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_layers_load_without_torch(module):
    code = (
        f"import importlib, pkgutil, sys; m = importlib.import_module({module!r})\n"
        "for info in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_walker_sees_cycles_and_upward_imports():
    """The checks above would pass on any tree if the walker saw nothing: show that it sees."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    graph = import_graph("engine")
    assert "engine.contract.codec" in graph["engine.contract.events"]  # a module-level import
    assert "engine.runs.files" in graph["engine.data.tokenizer"]  # one inside a method
    assert engine_layer("engine.contract.events") < engine_layer("engine.training.trainer")


def _paths(package: str) -> list[tuple[str, Path]]:
    return [(module_name(p), p) for p in (ROOT / package).rglob("*.py")]
