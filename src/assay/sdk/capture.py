"""What a run records about where it ran: host, code, environment, packages.

Every viewer of a project can read this, so each public function here returns its facts
through ``redacted``, the one redaction step: argv option values, environment values
(whole when the name says secret, else as text), the git remote's credentials, and
URI passwords, secret query parameters, secret assignments and token shapes in every
string (``assay.redact``). Files that usually hold secrets (``.env``, keys,
credentials...) are kept out of the captured diff, and the diff names them instead.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

from assay.redact import REDACTED, redact_argv, redact_env, redact_tree

__all__ = [
    "ENV_PREFIXES",
    "REDACTED",
    "SECRET_FILES",
    "environment",
    "git_info",
    "host_basics",
    "packages",
    "redacted",
]

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
# Files left out of the captured diff wherever they are in the checkout (case ignored).
SECRET_FILES = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    "credentials*",
    "secrets.*",
)
# from the top of the checkout, in every folder, whatever the case of the name
_SECRET_PATHSPECS = tuple(f":(top,glob,icase)**/{pattern}" for pattern in SECRET_FILES)
_EXCLUDE_PATHSPECS = tuple(f":(exclude,top,glob,icase)**/{pattern}" for pattern in SECRET_FILES)


def redacted(host: dict[str, Any]) -> dict[str, Any]:
    """The one redaction step every captured fact goes through (see the module text)."""
    out = dict(host)
    if isinstance(out.get("argv"), list):
        out["argv"] = redact_argv(out["argv"])
    if isinstance(out.get("env"), dict):
        out["env"] = redact_env(out["env"])
    git = out.get("git")
    if isinstance(git, dict) and git.get("remote"):
        out["git"] = {**git, "remote": _strip_credentials(str(git["remote"]))}
    result: dict[str, Any] = redact_tree(out)
    return result


def host_basics() -> dict[str, Any]:
    """Cheap facts, taken at init: python, platform, host, user, command line."""
    try:
        user = getpass.getuser()
    except Exception:
        user = None
    return redacted(
        {
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
    )


def environment(prefixes: tuple[str, ...] = ENV_PREFIXES) -> dict[str, str]:
    """Selected environment variables: a value is hidden whole when its name suggests a
    secret, and redacted as text (URI passwords, tokens) otherwise."""
    chosen = {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}
    env: dict[str, str] = redacted({"env": chosen})["env"]
    return env


def packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name] = dist.version
    listed = dict(sorted(found.items(), key=lambda kv: kv[0].lower()))
    result: dict[str, str] = redacted({"packages": listed})["packages"]
    return result


def git_info(cwd: str | None = None) -> dict[str, Any] | None:
    """Commit, branch, remote and the uncommitted diff; None outside a git checkout.
    Changed files named in ``SECRET_FILES`` are left out of the diff and listed in
    ``diff_excluded``; the checkout is ``dirty`` when either has something."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                capture_output=True,
                encoding="utf-8",
                errors="replace",  # a diff of a file in another encoding is still shown
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    plain = ("diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative")
    diff = git(*plain, "--", *_EXCLUDE_PATHSPECS) or ""
    excluded = (git(*plain, "--name-only", "--", *_SECRET_PATHSPECS) or "").splitlines()
    info = {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "remote": git("remote", "get-url", "origin"),
        "dirty": bool(diff or excluded),
        "diff": diff,
        "diff_excluded": sorted(excluded),
        "root": git("rev-parse", "--show-toplevel"),
    }
    git_facts: dict[str, Any] = redacted({"git": info})["git"]
    return git_facts


def _strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` → ``https://host/x`` (up to the last ``@`` of the
    host part, so a password holding an unescaped ``@`` goes too)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://{authority.rsplit('@', 1)[1]}{slash}{path}"
