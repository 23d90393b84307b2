"""docs/errors.md: every row names a test that exists, so the catalogue of
bad inputs and their messages cannot drift from what is tested."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "errors.md"


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("case", "---") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[3]))
    return rows


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_row_names_an_existing_test():
    assert len(_rows()) >= 40, "the catalogue lost its rows"
    missing = []
    for case, reference in _rows():
        match = re.fullmatch(r"`(tests/[\w/]+\.py)::(test\w+)`", reference)
        if match is None:
            missing.append(
                f"{case}: the test cell must be `tests/<file>.py::<test>`, not {reference!r}"
            )
            continue
        path, name = ROOT / match[1], match[2]
        if not path.is_file() or name not in _tests_in(path):
            missing.append(f"{case}: {reference} does not exist")
    assert not missing, "\n".join(missing)
