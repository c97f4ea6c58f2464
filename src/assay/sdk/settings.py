"""Per-run switches: what is captured automatically, and how the writer behaves."""

from __future__ import annotations

from dataclasses import dataclass

from assay.sdk.capture import ENV_PREFIXES


@dataclass(frozen=True)
class Settings:
    capture_git: bool = True
    capture_env: bool = True
    env_prefixes: tuple[str, ...] = ENV_PREFIXES
    capture_packages: bool = True
    capture_console: bool = True
    # the entry script (and files under the working directory matching code_globs, e.g.
    # "src/**/*.py") as a `code` artifact of the run, online; docs/tracking.md
    capture_code: bool = True
    code_globs: tuple[str, ...] = ()
    system_metrics_interval: float = 10.0  # seconds; 0 turns system metrics off
    flush_interval: float = 0.1  # how often the writer cuts a batch
    finish_timeout: float = 30.0  # how long finish() keeps trying an unreachable store
    connect_timeout: float = 10.0  # how long init() waits for the store's first answer
    handle_signals: bool = True  # mark the run killed on SIGTERM
