"""Meta-tests: the docs name every suite key and every hook with its signature."""

import inspect
import re
from pathlib import Path

import pytest

from harness.plugin import hookspecs
from harness.plugin.registry import HOOKS
from harness.spec.config import describe_section

DOCS = Path(__file__).parent.parent / "docs"


def section_text(doc: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert match, f"docs/suites.md has no section '## {heading}'"
    return match.group(1)


@pytest.mark.parametrize(
    ("section", "heading"),
    [
        ("top", "Top-level keys"),
        ("conditions", "`[[conditions]]`"),
        ("features", "`[features]`"),
        ("splits", "`[splits]`"),
        ("target", "`[target]`"),
        ("training", "`[training]`"),
    ],
)
def test_suite_reference_documents_every_key(section, heading):
    text = section_text((DOCS / "suites.md").read_text(), heading)
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    declared = {p.name for p in describe_section(section)}
    assert documented == declared


def test_every_hook_spec_is_in_the_family_table():
    specs = {
        name
        for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("harness_")
    }
    assert specs == set(HOOKS.values())


def test_suite_reference_names_the_declared_defaults():
    from harness.plugin.registry import load_registry

    registry = load_registry(autoload=False)
    text = " ".join((DOCS / "suites.md").read_text().split())  # prose wraps anywhere
    assert f"the filter `{registry.default('pretrain_filter')}`" in text
    assert f"the executor `{registry.default('executor')}`" in text
    assert f'| the default filter, `"{registry.default("pretrain_filter")}"` |' in text


def test_every_complete_suite_in_the_docs_validates(tmp_path):
    """A TOML block that is a whole suite (it starts with ``name = ``) loads with
    the built-in plugins, so an example a reader copies works."""
    import tomllib

    from harness.plugin.registry import load_registry
    from harness.spec.suite import load_suite

    registry = load_registry(autoload=False)
    found = 0
    for doc in sorted((Path(__file__).parent.parent / "docs").glob("*.md")):
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)):
            if not re.match(r"(#.*\n)*name = ", block):
                tomllib.loads(block)  # a fragment must still be TOML
                continue
            path = tmp_path / f"{doc.stem}-{i}.toml"
            path.write_text(block)
            load_suite(path, registry)
            found += 1
    assert found >= 1
