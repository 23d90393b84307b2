"""docs/running.md, the `slurm` executor's section: its settings block is the
declaration (every key, with its default), and every command it shows parses,
names a suite that exists and gives the executor settings it accepts. (What
they do on a cluster, tests/test_slurm_cluster.py runs on a one-node one.)"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.plugin.components import resolve_params
from harness_plugins.executors.slurm import PARAMS
from harness_plugins.executors.slurm_options import option_problems

ROOT = Path(__file__).parent.parent
SECTION = (ROOT / "docs" / "running.md").read_text().split("### `slurm`", 1)[1].split("\n## ", 1)[0]


def commands() -> list[list[str]]:
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", SECTION, re.M | re.S):
        for line in block.splitlines():
            for part in filter(None, (p.strip() for p in line.split("&&"))):
                words = shlex.split(part)
                if words[0] == "sbatch":  # the command the job runs
                    words = shlex.split(words[words.index("--wrap") + 1])
                out.append(words)
    return out


def test_the_settings_block_lists_every_key_with_its_default():
    block = SECTION.split("\n\n", 2)[1]
    table = tomllib.loads("\n".join(line[4:] for line in block.splitlines()))["executor"]
    assert table.pop("plugin") == "slurm"
    assert table == {p.name: p.default for p in PARAMS}


@pytest.mark.parametrize(
    "command", [c for c in commands() if c[0] == "harness"], ids=lambda c: " ".join(c[:3])
)
def test_every_harness_command_parses_with_settings_the_executor_accepts(command):
    args = build_parser().parse_args(command[1:])
    assert (ROOT / args.suite).is_file()
    assert args.executor == "slurm"
    given = dict(p.split("=", 1) for p in args.executor_param)
    typed = {k: int(v) if v.isdigit() else v for k, v in given.items()}
    resolved, problems = resolve_params(PARAMS, typed, "-E")
    assert problems == [] and list(option_problems(resolved)) == []


def test_the_install_command_names_an_extra_that_exists():
    pip = [c for c in commands() if c[:2] == ["pip", "install"]]
    assert pip == [["pip", "install", "speech-pretrain-harness[slurm]"]]
    assert re.search(r"^slurm = \[", (ROOT / "pyproject.toml").read_text(), re.M)
