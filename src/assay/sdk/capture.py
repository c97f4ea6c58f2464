"""What a run records about where it ran: host, code, environment, packages."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "PASSWD", "AUTH")
ENV_PREFIXES = (
    "ASSAY_",
    "CUDA_",
    "NVIDIA_",
    "OMP_",
    "MKL_",
    "PYTHON",
    "CONDA_",
    "VIRTUAL_ENV",
    "SLURM_",
    "HF_",
    "TORCH",
    "TF_",
    "JAX_",
    "XLA_",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_",
)
REDACTED = "<redacted>"


def host_basics() -> dict[str, Any]:
    """Cheap facts, taken at init: python, platform, host, user, command line."""
    try:
        user = getpass.getuser()
    except Exception:
        user = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "user": user,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "argv": list(sys.argv),
        "executable": sys.executable,
        "cpu_count": os.cpu_count(),
    }


def environment(prefixes: tuple[str, ...] = ENV_PREFIXES) -> dict[str, str]:
    """Selected environment variables; any whose name suggests a secret is redacted."""
    chosen = {k: v for k, v in os.environ.items() if k.startswith(prefixes)}
    return {k: REDACTED if is_secret(k) else v for k, v in sorted(chosen.items())}


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def git_info(cwd: str | None = None) -> dict[str, Any] | None:
    """Commit, branch, remote and the uncommitted diff; None outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    diff = git("diff", "HEAD") or ""
    remote = git("remote", "get-url", "origin")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "remote": _strip_credentials(remote) if remote else None,
        "dirty": bool(diff),
        "diff": diff,
        "root": git("rev-parse", "--show-toplevel"),
    }


def _strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` → ``https://host/x``."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
