"""The ``slurm`` executor's declaration: each run (or batch of runs) a Slurm job.

The factory is named by reference, so listing and validating import neither
submitit nor the executor (:mod:`harness_plugins.executors.slurm_executor`).
"""

from __future__ import annotations

from harness import Component, Param, hookimpl
from harness_plugins.executors.slurm_options import check_slurm

PARAMS = [
    Param("partition", str, "", "partition (sbatch --partition); empty: the cluster's default"),
    Param("jobs", int, 0, "jobs queued or running at once; 0: every run's job at once", min=0),
    Param(
        "runs_per_job", int, 1, "runs one job runs one after another (for many short runs)", min=1
    ),
    Param(
        "cpus_per_job",
        int,
        1,
        "CPUs of each job (sbatch --cpus-per-task); its torch threads",
        min=1,
    ),
    Param("gpus_per_job", int, 0, "GPUs of each job (sbatch --gpus-per-node)", min=0),
    Param("mem", str, "", "memory of each job such as 16G (sbatch --mem); empty: the default"),
    Param("time", str, "01:00:00", "time limit of each job: minutes, HH:MM:SS or D-HH:MM:SS"),
    Param(
        "retries",
        int,
        2,
        "times a run is submitted again after its job was preempted or its node failed",
        min=0,
    ),
    Param("account", str, "", "account to charge (sbatch --account); empty: your default"),
    Param("qos", str, "", "quality of service (sbatch --qos); empty: the default"),
    Param("setup", str, "", "shell commands each job runs first, such as 'module load cuda'"),
    Param("options", str, "", "more sbatch options, such as '--constraint=a100 --exclusive'"),
    Param(
        "folder",
        str,
        "",
        "job scripts, logs and run files, on a file system every node "
        "sees; empty: the harness cache's slurm/",
    ),
]


@hookimpl
def harness_executors() -> list[Component]:
    return [
        Component(
            name="slurm",
            factory="harness_plugins.executors.slurm_executor:SlurmExecutor",
            doc="Slurm jobs submitted with submitit: a job per run (or per batch of runs)",
            params=PARAMS,
            check=check_slurm,
        )
    ]
