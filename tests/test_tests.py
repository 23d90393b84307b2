"""The tests' own layout: shared code comes from tests/helpers/ or a conftest
fixture, never from another test module (importing one runs its module-level
setup again and hands out its fixtures under a second name)."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_test_module_imports_another():
    test_modules = {p.stem for p in TESTS.glob("test_*.py")}
    offenders = {
        path.name: sorted(imported_modules(path) & test_modules)
        for path in sorted(TESTS.glob("test_*.py"))
        if imported_modules(path) & test_modules
    }
    assert offenders == {}


def test_helpers_are_imported_from_the_helpers_package():
    loose = (
        {p.stem for p in TESTS.glob("*.py")}
        - {"conftest"}
        - {p.stem for p in TESTS.glob("test_*.py")}
    )
    assert loose == set(), "shared test code belongs in tests/helpers/"
