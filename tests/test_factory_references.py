"""Components whose factory is named by reference (``"package.module:Name"``):
listing and validating never import the code that runs, so the CLI answers
without importing torch or scikit-learn; the reference is checked when loaded
and the factory against its declaration when first built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.plugin.components import Component, Param, check_declaration
from harness.plugin.provenance import factory_module

ROOT = Path(__file__).parent.parent
HEAVY = ("torch", "sklearn", "scipy", "pandas", "matplotlib", "transformers")


def test_validating_and_listing_import_none_of_the_heavy_libraries():
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "assert main(['validate', 'suites/pretrain.toml']) == 0\n"
        "assert main(['plugins']) == 0\n"
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _component(factory: object, **kwargs: object) -> Component:
    return Component(name="thing", factory=factory, doc="a thing", **kwargs)  # type: ignore[arg-type]


def test_a_reference_is_imported_only_when_the_component_is_built():
    component = _component("fractions:Fraction", params=[Param("numerator", int, 0, "top")])
    assert check_declaration("model", component) == []
    assert factory_module(component) == "fractions"
    assert component.create(numerator=3) == 3


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("fractions.Fraction", "is not of the form 'package.module:Name'"),
        ("no_such_package_here.module:Thing", "names a module that cannot be found"),
    ],
)
def test_a_reference_that_cannot_name_anything_is_a_declaration_problem(reference, fragment):
    problems = check_declaration("model", _component(reference))
    assert any(fragment in p for p in problems), problems


def test_a_referenced_factory_that_refuses_a_declared_parameter_fails_when_built():
    component = _component("fractions:Fraction", params=[Param("colour", str, "red", "hue")])
    with pytest.raises(TypeError, match="component 'thing': its factory Fraction does not accept"):
        component.create(colour="red")


def test_a_closed_pipe_ends_the_listing_quietly():
    # `harness plugins | head -1`: the reader is gone before the listing is written
    child = subprocess.Popen(
        [sys.executable, "-m", "harness", "plugins"], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait() == 0
    assert "Traceback" not in err, err
