"""The import graph of harness/: no cycle, and no module importing one from a
higher layer than its own (the layers are the table in docs/architecture.md)."""

import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """harness modules ``path`` imports anywhere (inside functions and under
    TYPE_CHECKING too: types flow the same way as data)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from harness.report import figures` imports the submodule;
            # `from harness.report import build_report` the package itself
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(path, known) - {name} for name, path in mods.items()}


def layers() -> dict[str, int]:
    """Module -> layer number, from the '## Layers' table of docs/architecture.md."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = re.search(r"^## Layers\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert section, "docs/architecture.md has no '## Layers' section"
    out = {}
    for number, cell in re.findall(r"^\| (\d+) \| [^|]* \| (.*?) \|$", section.group(1), re.M):
        for name in re.findall(r"`([a-z_.]+)`", cell):
            out[f"harness.{name}" if name != "harness" else name] = int(number)
    return out


def test_the_import_graph_has_no_cycle():
    try:
        order = list(graphlib.TopologicalSorter(graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    assert set(order) == set(modules())


def test_every_module_has_a_layer():
    assert set(modules()) - {"harness.__main__"} <= set(layers()), (
        "add these modules to the Layers table of docs/architecture.md"
    )
    assert set(layers()) <= set(modules()), "the Layers table names modules that do not exist"


def test_no_module_imports_from_a_higher_layer():
    layer = layers()
    layer.setdefault("harness.__main__", max(layer.values()))
    upward = [
        f"{name} (layer {layer[name]}) imports {dep} (layer {layer[dep]})"
        for name, deps in graph().items()
        for dep in sorted(deps)
        if layer[dep] > layer[name]
    ]
    assert not upward, "\n".join(upward)


def test_the_checks_see_real_imports():
    # guards against a parser that finds nothing and so passes everything
    g = graph()
    assert "harness.tables.results" in g["harness.tables.export"]
    assert "harness.stats.analysis" in g["harness.tables.export"]
    assert "harness.report.figures" in g["harness.report.html"]
    assert "harness.run.execute" in g["harness.running.runner"]  # imported inside a function
