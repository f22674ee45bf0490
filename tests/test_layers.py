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
ENGINE_LAYERS = (
    "contract", "runs", "data", "model", "lens", "report", "training", "process", "cli"
)  # fmt: skip
# tui's layers, lowest first, by the name under tui/ (a module or a subpackage); tui itself sits
# above them all. Plain helpers and the app-wide messages are at the bottom.
TUI_LAYERS = (
    ("format", "terms", "messages", "event_batches"),
    ("state",),
    ("widgets",),
    ("screens",),
    ("views",),
    ("palette",),
    ("app",),
    ("cli", "serve"),
)
# What the widget groups (tui/widgets/<view>/) share; a group imports no other group.
SHARED_WIDGETS = (
    "tui.widgets.drawing", "tui.widgets.kept_lines", "tui.widgets.plotext_lines",
    "tui.widgets.safe_text",
)  # fmt: skip
UI_LIBRARIES = ("textual", "textual_plotext", "rich")
TORCH_FREE = (
    "engine.contract",
    "engine.runs",
    "engine.lens.head_roles",
    "engine.lens.sampling",
    "engine.lens.timelapse",
    "engine.report",
)


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


def tui_layer(module: str) -> int:
    """Its layer's place in TUI_LAYERS; tui itself sits above them all."""
    parts = module.split(".")
    if len(parts) == 1:
        return len(TUI_LAYERS)
    return next(i for i, names in enumerate(TUI_LAYERS) if parts[1] in names)


def widget_group(module: str) -> str | None:
    """The view a widget module serves (tui.widgets.train.loss_chart -> "train"), if any."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["tui", "widgets"] and len(parts) > 3 else None


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


def test_every_tui_module_is_in_a_layer():
    loose = [
        m
        for m in import_graph("tui")
        if m != "tui" and not any(m.split(".")[1] in names for names in TUI_LAYERS)
    ]
    assert loose == [], f"modules outside the layers {TUI_LAYERS}"


def test_tui_imports_only_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph("tui").items()
        for target in targets
        if tui_layer(target) > tui_layer(module)
    ]
    assert upward == []


def test_widget_groups_share_only_the_shared_widgets():
    crossing = [
        f"{module} -> {target}"
        for module, targets in import_graph("tui").items()
        for target in targets
        if widget_group(module) and widget_group(target) not in (None, widget_group(module))
    ]
    assert crossing == []
    assert all(widget_group(m) is None for m in SHARED_WIDGETS)


def test_tui_state_holds_no_widgets():
    """tui/state is what the UI remembers, apart from widgets: it imports no UI library."""
    names = {t for m, path in _paths("tui/state") for t in imported(path, m)}
    assert not {n.split(".")[0] for n in names} & set(UI_LIBRARIES)


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


def test_the_report_loads_matplotlib_only_to_draw():
    """matplotlib is an optional extra, and slow to import: the report's modules and the command
    line load without it."""
    code = (
        "import sys, engine, engine.cli, engine.report.page, engine.cli.sharing\n"
        "print('matplotlib' in sys.modules)"
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
    graph = import_graph("tui")
    assert "tui.views.registry" in graph["tui.palette"]
    assert "tui.app" in graph["tui.cli"]  # one inside a function
    assert tui_layer("tui.state.tour") < tui_layer("tui.widgets.shell.tour_note")
    assert tui_layer("tui.views.train") < tui_layer("tui.app") < tui_layer("tui")
    assert widget_group("tui.widgets.train.loss_chart") == "train"
    assert widget_group("tui.widgets.drawing") is None


def _paths(package: str) -> list[tuple[str, Path]]:
    return [(module_name(p), p) for p in (ROOT / package).rglob("*.py")]
