"""The sweep trial this process runs, as a sweep agent described it in the environment;
``assay.init`` reads it (light: nothing here imports more than the standard library)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import InvalidInput

ENV_SWEEP = "ASSAY_SWEEP_ID"
ENV_TRIAL = "ASSAY_SWEEP_TRIAL"
ENV_PARAMS = "ASSAY_SWEEP_PARAMS"
ENV_RUN = "ASSAY_SWEEP_RUN_ID"
ENV_PROJECT = "ASSAY_SWEEP_PROJECT"
ENV_GROUP = "ASSAY_SWEEP_GROUP"


@dataclass(frozen=True, kw_only=True)
class TrialEnv:
    """What an agent tells the process running a trial."""

    sweep_id: str
    number: int
    run_id: str
    project: str
    group: str
    params: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The parameters as a config: ``model.depth`` nested as {"model": {"depth"}}."""
        out: dict[str, Any] = {}
        for name, value in self.params.items():
            *parents, leaf = name.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out


def trial_env(environ: Mapping[str, str] | None = None) -> TrialEnv | None:
    """The trial this process runs for a sweep agent, or None."""
    env = os.environ if environ is None else environ
    if ENV_SWEEP not in env:
        return None
    try:
        params = json.loads(env[ENV_PARAMS])
        return TrialEnv(
            sweep_id=env[ENV_SWEEP],
            number=int(env[ENV_TRIAL]),
            run_id=env[ENV_RUN],
            project=env[ENV_PROJECT],
            group=env[ENV_GROUP],
            params=params,
        )
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"{ENV_SWEEP} is set but the trial's variables are not: {exc}") from None


_taken: set[str] = set()  # run ids of trials an init of this process has started


def take_trial() -> TrialEnv | None:
    """The trial this process runs, the first time ``assay.init`` asks (a second run of
    the process is an ordinary run, not the trial again)."""
    found = trial_env()
    if found is None or found.run_id in _taken:
        return None
    _taken.add(found.run_id)
    return found


def with_params(config: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The script's config with the trial's parameters over it (nested dicts merged)."""
    out = dict(config)
    for key, value in params.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = with_params(out[key], value)
        else:
            out[key] = value
    return out
