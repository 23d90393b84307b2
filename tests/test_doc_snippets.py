"""The Python snippets in docs/data.md run and print what the docs say they print."""

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).parent.parent / "docs" / "data.md"


def test_quick_look_snippets_run_as_documented():
    quick_look = DOC.read_text().split("## Quick look", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", quick_look, re.S)
    assert len(blocks) == 2, "expected the eSpeak and the Common Voice snippet"
    namespace: dict = {}
    for code, expected in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), namespace)
        assert out.getvalue() == expected
