"""Asking Slurm about the executor's jobs: their states, a dry run of the
resources, cancelling.

States come from ``squeue --states=all``, which lists a job for
``MinJobAge`` seconds (300 by default) after it ends, so no accounting
database (``sacct``) is needed; ``sacct`` answers only for a job that has
left the queue already, where the cluster has one.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence

#: states after which a job runs no more (``PREEMPTED`` may still turn into a
#: requeue: a state counts only once it has lasted, see the executor)
ENDED = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                   "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"})  # fmt: skip
#: endings that are not the run's doing: its runs are submitted again
RETRIED = frozenset({"BOOT_FAIL", "NODE_FAIL", "PREEMPTED", "REVOKED", "VANISHED"})
#: a job that left the queue and that no accounting remembers
VANISHED = "VANISHED"


class SlurmUnavailable(RuntimeError):
    """Slurm's commands are missing or refuse the executor's settings."""


def require_commands(names: Iterable[str] = ("sbatch", "squeue", "scancel", "srun")) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise SlurmUnavailable(
            f"{', '.join(missing)} not found on PATH: the slurm executor submits jobs from a "
            "machine of a Slurm cluster (a login node, or inside a job)"
        )


def _run(args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


def check_resources(args: Sequence[str]) -> None:
    """``sbatch --test-only`` with the executor's options: a partition, time,
    memory or GPU count the cluster cannot give is an error before any run.

    :raises SlurmUnavailable: with sbatch's own reason.
    """
    try:
        done = _run(["sbatch", "--test-only", *args, "--wrap", "true"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmUnavailable(f"sbatch --test-only did not answer: {exc}") from exc
    if done.returncode != 0:
        said = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise SlurmUnavailable(
            f"Slurm refuses jobs with {' '.join(args)}: {said or 'no reason given'}; "
            "see `sinfo` for the partitions and their nodes' CPUs, memory and GPUs"
        )


def job_states(name: str) -> dict[str, str] | None:
    """Job id -> state of every job called ``name`` that the queue still
    lists (array elements as ``<array>_<index>``); None if squeue failed."""
    try:
        done = _run(["squeue", "-h", "-r", "--states=all", f"--name={name}", "-o", "%i|%T"])
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    states = {}
    for line in done.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id:
            states[job_id] = state.strip()
    return states


def accounted_states(job_ids: Sequence[str]) -> dict[str, str]:
    """States from the accounting database for jobs the queue forgot; empty
    where the cluster keeps no accounting."""
    if not job_ids or shutil.which("sacct") is None:
        return {}
    try:
        done = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(job_ids)])
    except (OSError, subprocess.TimeoutExpired):
        return {}
    states = {}
    if done.returncode == 0:
        for line in done.stdout.splitlines():
            job_id, _, state = line.strip().partition("|")
            if job_id in job_ids and state:
                states[job_id] = state.split()[0]  # "CANCELLED by 1000"
    return states


def cancel(job_ids: Sequence[str]) -> None:
    for start in range(0, len(job_ids), 200):
        _run(["scancel", *job_ids[start : start + 200]])
