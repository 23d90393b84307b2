"""The Python snippets in docs/data.md and docs/plugins.md run and do what the docs say."""

import contextlib
import io
import re
import tomllib
import types
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "data.md"
PLUGINS_DOC = DOC.with_name("plugins.md")


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


def test_check_snippet_is_reported_by_validate_as_documented(tmp_path):
    from harness.spec.suite import SuiteError, load_suite
    from harness.testing import tiny_registry, write_tiny_suite

    section = PLUGINS_DOC.read_text().split("### `check`: rules across parameters", 1)[1]
    code, condition, expected = re.search(
        r"```python\n(.*?)```\n\nA condition with `filter = (.*?)` then gives\n\n```text\n(.*?)\n```",
        section,
        re.S,
    ).groups()
    plugin = types.ModuleType("bandpass_snippet")
    exec(compile(code, str(PLUGINS_DOC), "exec"), plugin.__dict__)
    filter_ = tomllib.loads(f"f = {condition}")["f"]
    conditions = [{"name": "none"}, {"name": "it-bp", "language": "it", "filter": filter_}]
    path = write_tiny_suite(tmp_path, conditions=conditions)
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry([plugin]))
    assert [f"{where}: {message}" for where, message in info.value.problems] == [expected]
    # the factory refuses the same settings with the same rule
    with pytest.raises(ValueError, match="low_hz: expected below high_hz"):
        plugin.Bandpass(low_hz=4000.0)(None, 16000, None)


def test_probe_vocabulary_snippet_declares_valid_metrics():
    from harness.plugin.components import Component, check_declaration

    section = PLUGINS_DOC.read_text().split("can take its vocabulary from", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(PLUGINS_DOC), "exec"), namespace)
    assert [m.name for m in namespace["METRICS"]][:3] == [
        "balanced_accuracy_target",
        "chance_target",
        "p_value_target",
    ]

    class Knn:
        def __init__(self, task: str = "both") -> None:
            self.task = task

    component = Component(
        name="knn",
        factory=Knn,
        doc="k-NN",
        params=namespace["PARAMS"],
        metrics=namespace["METRICS"],
    )
    assert check_declaration("probe", component) == []
