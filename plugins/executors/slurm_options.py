"""The ``slurm`` executor's settings: parsed, checked and turned into sbatch options.

Nothing here imports submitit or runs a Slurm command, so ``harness validate``
checks a suite's ``[executor]`` table with the same rules the executor applies
when it starts (``-E time=4h`` is refused either way, naming the key and the
forms Slurm accepts).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Slurm's time limit forms: minutes, minutes:seconds, hours:minutes:seconds,
#: days-hours, days-hours:minutes, days-hours:minutes:seconds
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
#: sbatch --mem: a whole number with an optional unit (megabytes without one)
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
#: seconds before the time limit at which Slurm warns a job (sbatch --signal)
SIGNAL_DELAY_S = 90
#: the options the executor sets itself, so ``options`` may not
_OWN = {"array", "cpus-per-task", "error", "gpus-per-node", "job-name", "mem", "open-mode",
        "output", "partition", "signal", "time", "account", "qos"}  # fmt: skip


def time_minutes(text: str) -> int:
    """A Slurm time limit (``30``, ``04:00:00``, ``1-12:00:00``) in whole minutes.

    :raises ValueError: not one of Slurm's forms, or no time at all.
    """
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(
            f"expected a Slurm time limit such as 30 (minutes), 04:00:00 or 1-12:00:00, got {text!r}"
        )
    days, first, second, third = match.groups()
    if days is not None:  # days-hours[:minutes[:seconds]]
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:  # hours:minutes:seconds
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    else:  # minutes[:seconds]
        seconds = int(first) * 60 + int(second or 0)
    if seconds <= 0:
        raise ValueError(f"expected a time limit above zero, got {text!r}")
    return math.ceil(seconds / 60)


def extra_options(text: str) -> dict[str, Any]:
    """``options`` (``--constraint=a100 --exclusive``) as submitit's additional
    sbatch parameters: ``{"constraint": "a100", "exclusive": True}``.

    :raises ValueError: not ``--name[=value]`` words, or an option the executor
        sets from its own keys.
    """
    out: dict[str, Any] = {}
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot split {text!r} into words: {exc}") from exc
    for word in words:
        name, sep, value = word.partition("=")
        if not re.match(r"^--[a-z][a-z0-9-]*$", name):
            raise ValueError(
                f"expected long sbatch options such as '--constraint=a100 --exclusive', got {word!r}"
            )
        key = name[2:]
        if key in _OWN:
            raise ValueError(
                f"{name} is set by the executor's own keys (partition, time, mem, cpus_per_job, "
                "gpus_per_job, account, qos); give it there"
            )
        out[key] = value if sep else True
    return out


@dataclass(frozen=True)
class SlurmOptions:
    """The executor's parameters, checked; :meth:`sbatch` gives submitit's parameters."""

    partition: str = ""
    jobs: int = 0
    runs_per_job: int = 1
    cpus_per_job: int = 1
    gpus_per_job: int = 0
    mem: str = ""
    time: str = "01:00:00"
    retries: int = 2
    account: str = ""
    qos: str = ""
    setup: str = ""
    options: str = ""
    folder: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> SlurmOptions:
        """The options of ``params``; :raises ValueError: naming each bad key."""
        problems = list(option_problems(params))
        if problems:
            raise ValueError("; ".join(f"-E {key}: {message}" for key, message in problems))
        return cls(**params)

    @property
    def minutes(self) -> int:
        return time_minutes(self.time)

    def sbatch(self, job_name: str) -> dict[str, Any]:
        """Parameters for ``submitit.SlurmExecutor.update_parameters``."""
        given = {
            "partition": self.partition,
            "mem": self.mem.upper(),
            "account": self.account,
            "qos": self.qos,
            "gpus_per_node": self.gpus_per_job,
        }
        params: dict[str, Any] = {k: v for k, v in given.items() if v}
        params.update(
            job_name=job_name,
            time=self.minutes,
            cpus_per_task=self.cpus_per_job,
            signal_delay_s=SIGNAL_DELAY_S,
            stderr_to_stdout=True,
        )
        if self.setup:
            params["setup"] = [self.setup]
        if self.jobs:
            params["array_parallelism"] = self.jobs
        extra = extra_options(self.options)
        if extra:
            params["additional_parameters"] = extra
        return params

    def test_only_args(self) -> list[str]:
        """The resource options as sbatch arguments, for ``sbatch --test-only``."""
        args = [f"--time={self.minutes}", f"--cpus-per-task={self.cpus_per_job}"]
        named = {"partition": self.partition, "mem": self.mem.upper(), "account": self.account,
                 "qos": self.qos}  # fmt: skip
        args += [f"--{key}={value}" for key, value in named.items() if value]
        if self.gpus_per_job:
            args.append(f"--gpus-per-node={self.gpus_per_job}")
        for key, value in extra_options(self.options).items():
            args.append(f"--{key}" if value is True else f"--{key}={value}")
        return args


def option_problems(params: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """``(key, message)`` for each setting Slurm would refuse or misread."""
    try:
        time_minutes(str(params.get("time", "01:00:00")))
    except ValueError as exc:
        yield "time", str(exc)
    mem = str(params.get("mem", ""))
    if mem and not _MEM.match(mem):
        yield "mem", f"expected a memory size such as 16G, 512M or 16000 (megabytes), got {mem!r}"
    try:
        extra_options(str(params.get("options", "")))
    except ValueError as exc:
        yield "options", str(exc)


def check_slurm(params: Mapping[str, Any], context: object) -> Iterable[tuple[str, str]]:
    """The component's ``check``: the same rules at ``harness validate``."""
    return list(option_problems(params))
