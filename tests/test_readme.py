"""Every command and snippet in README.md is run here: harness commands are
parsed by the real CLI and the suites they name are validated; the suite
snippet loads; the files the install commands rely on exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.spec.suite import load_suite

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: suites that read a download (their commands are checked, not validated)
NEEDS_DOWNLOAD = {"commonvoice", "ravdess"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.M | re.S)


def commands() -> list[list[str]]:
    """Each command of the README's shell blocks, comments dropped, `&&` split."""
    out = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in filter(None, (p.strip() for p in line.split("&&"))):
                out.append(shlex.split(part))
    return out


def test_the_readme_has_the_two_fresh_machine_commands():
    flat = [" ".join(c) for c in commands()]
    assert "harness run suites/pretrain.toml" in flat  # installs and runs the main job
    assert "tox" in flat  # runs the tests


@pytest.mark.parametrize(
    "command", [c for c in commands() if c[0] == "harness"], ids=lambda c: " ".join(c)
)
def test_every_harness_command_parses_and_its_suite_validates(command, capsys):
    build_parser().parse_args(command[1:])  # SystemExit (exit 2) on a bad command
    suites = [a for a in command if a.endswith(".toml")]
    for suite in suites:
        assert (ROOT / suite).is_file(), suite
        if Path(suite).stem not in NEEDS_DOWNLOAD:
            assert main(["validate", str(ROOT / suite)]) == 0, capsys.readouterr().err


def test_the_install_commands_name_files_that_exist():
    for command in commands():
        if command[:2] == ["pip", "install"] and "-c" in command:
            assert (ROOT / command[command.index("-c") + 1]).is_file()
        if command[0] == "tox":
            assert (ROOT / "tox.ini").is_file()


def test_the_suite_snippet_is_a_valid_suite(tmp_path):
    (snippet,) = blocks("toml")
    path = tmp_path / "my-study.toml"
    path.write_text(snippet, encoding="utf-8")
    suite = load_suite(path)
    assert suite.name == "my-study" and len(suite.seeds) == 10
