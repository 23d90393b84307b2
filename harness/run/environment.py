"""What a run ran on: package versions, source commit, machine; kept in every record."""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

#: record key -> distribution, for the packages whose versions can change a run's numbers
PACKAGES = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "librosa": "librosa",
    "soundfile": "soundfile",
    "pluggy": "pluggy",
}


def package_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> dict[str, Any] | None:
    """Commit of the harness source tree and whether it had local changes.

    None when the harness is not running from a git checkout (an installed wheel).
    """
    where = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _git_fields(info: dict[str, Any] | None) -> dict[str, Any]:
    return {"git_commit": info and info["commit"], "git_dirty": info and info["dirty"]}


def _accelerator() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cuda_available": torch.cuda.is_available()}
    if info["cuda_available"]:
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


@functools.cache
def _static() -> dict[str, Any]:
    # versions and the commit do not change within a worker process
    from harness import __version__

    return {
        "harness": __version__,
        "python": sys.version.split()[0],
        **{key: package_version(dist) for key, dist in PACKAGES.items()},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        **_git_fields(git_commit()),
        **_accelerator(),
    }


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (runnable processes,
    all users), or None where the system does not report them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def environment() -> dict[str, Any]:
    """JSON-ready description of this process's software and machine."""
    import torch

    # thread counts can be changed by the executor per worker, so read them each time
    return {**_static(), "torch_threads": torch.get_num_threads()}
