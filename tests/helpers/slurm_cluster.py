"""A real one-node Slurm cluster for the ``cluster`` tests: munged, slurmctld
and slurmd of Debian's slurm-wlm, run as root with every file under one
folder, and stopped again with nothing left running.

Three partitions share the node, so a test can preempt a job: ``debug``
(the default; a preempted job is requeued), ``cancel`` (a preempted job is
cancelled, state PREEMPTED) and ``urgent``, whose jobs preempt the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = (*DAEMONS, "sbatch", "squeue", "scancel", "srun", "sinfo")


def unavailable() -> str | None:
    """Why no cluster can start here (None when one can)."""
    if os.geteuid() != 0:
        return "the one-node Slurm cluster runs its daemons as root"
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def slurm_conf(root: Path, host: str, cpus: int) -> str:
    ctld, slurmd = _free_port(), _free_port()
    node = f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN"
    lines = [
        "ClusterName=harnesstest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ctld}",
        f"SlurmdPort={slurmd}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'munge.socket'}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "ReturnToService=2",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        # quick ends: SIGKILL 2 s after SIGTERM; ended jobs stay in squeue 10 min
        "KillWait=2",
        "MinJobAge=600",
        "PreemptType=preempt/partition_prio",
        "PreemptMode=REQUEUE",
        node,
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP PriorityTier=1",
        f"PartitionName=cancel Nodes={host} MaxTime=INFINITE State=UP PriorityTier=1 "
        "PreemptMode=CANCEL",
        f"PartitionName=urgent Nodes={host} MaxTime=INFINITE State=UP PriorityTier=2 "
        "PreemptMode=OFF",
    ]
    return "\n".join(lines) + "\n"


class SlurmCluster:
    """The daemons of one cluster, all files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.host = socket.gethostname().split(".")[0]

    def start(self, timeout: float = 60.0) -> None:
        root = self.root
        for sub in ("state", "spool"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        key = root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text(slurm_conf(root, self.host, os.cpu_count() or 1))
        self._daemon("munged", "--force", f"--key-file={key}", f"--socket={root / 'munge.socket'}",
                     f"--pid-file={root / 'munged.pid'}", f"--log-file={root / 'munged.log'}",
                     f"--seed-file={root / 'munged.seed'}")  # fmt: skip
        self._daemon("slurmctld", "-f", str(self.conf))
        self._daemon("slurmd", "-f", str(self.conf))
        self._wait_idle(timeout)

    def _daemon(self, name: str, *args: str) -> None:
        done = subprocess.run([name, *args], env=self.env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{name} did not start: {done.stderr.strip()}{self.logs()}")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-n", self.host, "-o", "%T").stdout.strip()
            if state.split("\n")[0] == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node is {state or 'not listed'}, not idle{self.logs()}")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A Slurm command against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip

    def states(self) -> dict[str, str]:
        """Job id -> state of every job the queue lists (ended ones too)."""
        out = self.run("squeue", "-h", "-r", "--states=all", "-o", "%i|%T").stdout
        return dict(line.split("|", 1) for line in out.split())

    def wait_for(self, state: str, timeout: float = 120.0, name: str = "") -> str:
        """The id of the first job in ``state`` (of jobs called ``name``, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            args = ["squeue", "-h", "-r", "-t", state, "-o", "%i"]
            found = self.run(*args, *([f"--name={name}"] if name else [])).stdout.split()
            if found:
                return found[0]
            time.sleep(0.2)
        raise TimeoutError(f"no job became {state} in {timeout:.0f} s")

    def pids(self) -> dict[str, int]:
        """The daemons of this cluster that are alive, by name."""
        alive = {}
        for name in DAEMONS:
            with contextlib.suppress(OSError, ValueError):
                pid = int((self.root / f"{name}.pid").read_text().split()[0])
                os.kill(pid, 0)
                alive[name] = pid
        return alive

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged, in that order."""
        if "slurmctld" in self.pids():
            self.run("scancel", "--full", "-u", "root")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(
                s in ("RUNNING", "COMPLETING", "PENDING") for s in self.states().values()
            ):
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids().get(name)
            if pid is None:
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and name in self.pids():
                time.sleep(0.2)
            if name in self.pids():
                os.kill(pid, signal.SIGKILL)

    def logs(self) -> str:
        text = ""
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            with contextlib.suppress(OSError):
                tail = (self.root / name).read_text(errors="replace").splitlines()[-15:]
                text += f"\n--- {name}:\n" + "\n".join(tail)
        return text


@contextlib.contextmanager
def slurm_cluster(root: Path) -> Iterator[SlurmCluster]:
    """A started cluster under ``root``; stopped on the way out."""
    cluster = SlurmCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
