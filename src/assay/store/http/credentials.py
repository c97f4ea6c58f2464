"""API keys saved by ``assay login``: one JSON file, mode 0600, keyed by server URL."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def config_dir() -> Path:
    return Path(os.environ.get("ASSAY_CONFIG_DIR") or "~/.config/assay").expanduser()


def _path() -> Path:
    return config_dir() / "credentials.json"


def normalise(url: str) -> str:
    return url.rstrip("/")


def load_all() -> dict[str, str]:
    try:
        data = json.loads(_path().read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def key_for(url: str) -> str | None:
    """``ASSAY_API_KEY`` if set, else the key saved for this server."""
    return os.environ.get("ASSAY_API_KEY") or load_all().get(normalise(url))


def save(url: str, key: str) -> Path:
    """Write the key for ``url``; the file is created with mode 0600, never wider."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {**load_all(), normalise(url): key}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
