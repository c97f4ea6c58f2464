"""What a run captures about where it ran keeps no secret: environment values, argv, the
git remote and the uncommitted diff are redacted, and secret files stay out of the diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import assay
from assay.redact import REDACTED
from assay.sdk import capture
from assay.sdk.settings import Settings

GITHUB = "ghp_" + "T0k3n" * 8
OPENAI = "sk-proj-" + "o" * 40
DOTENV_SECRET = "dotenv-hunter2"
PEM_SECRET = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with a committed .env, key and source file, all three edited since."""
    root = tmp_path / "repo"
    (root / "conf").mkdir(parents=True)
    _git(root, "init", "-q")
    files = {
        ".env": "DEBUG=1\n",
        "conf/.env.production": "X=1\n",
        "conf/server.pem": "-----BEGIN PRIVATE KEY-----\n",
        "train.py": "lr = 0.1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first")
    _git(root, "remote", "add", "origin", f"https://me:p@ss-{GITHUB}@github.com/org/repo.git")
    (root / ".env").write_text(f"DEBUG=1\nOPENAI_API_KEY={DOTENV_SECRET}\n")
    (root / "conf" / ".env.production").write_text(f"X=2\nPASSWORD={DOTENV_SECRET}\n")
    (root / "conf" / "server.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{PEM_SECRET}\n")
    (root / "train.py").write_text(f'lr = 0.2\nclient = OpenAI(api_key="{OPENAI}")\n')
    return root


@pytest.mark.parametrize("where", [".", "conf"])  # run from the top or from a subfolder
def test_the_diff_leaves_out_secret_files_and_names_them(repo: Path, where: str) -> None:
    git = capture.git_info(str(repo / where))
    assert git is not None
    assert git["diff_excluded"] == [".env", "conf/.env.production", "conf/server.pem"]
    assert DOTENV_SECRET not in git["diff"] and PEM_SECRET not in git["diff"]
    assert "+lr = 0.2" in git["diff"] and "train.py" in git["diff"]
    assert git["dirty"] is True


def test_tokens_in_the_diff_and_the_remote_are_redacted(repo: Path) -> None:
    git = capture.git_info(str(repo))
    assert git is not None
    assert OPENAI not in git["diff"] and f'api_key="{REDACTED}"' in git["diff"]
    assert git["remote"] == "https://github.com/org/repo.git"
    assert GITHUB not in json.dumps(git)


def test_a_checkout_where_only_secret_files_changed_is_dirty_with_an_empty_diff(
    repo: Path,
) -> None:
    _git(repo, "checkout", "--", "train.py", "conf")
    git = capture.git_info(str(repo))
    assert git is not None
    assert (git["diff"], git["diff_excluded"], git["dirty"]) == ("", [".env"], True)


def test_a_clean_checkout_excludes_nothing(repo: Path) -> None:
    _git(repo, "checkout", "--", ".")
    git = capture.git_info(str(repo))
    assert git is not None
    assert (git["diff"], git["diff_excluded"], git["dirty"]) == ("", [], False)


def _secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_URI", "postgresql://assay:pg-hunter2@db.internal/assay")
    monkeypatch.setenv("ASSAY_API_KEY", "ak_0123456789ab_" + "K" * 32)
    monkeypatch.setenv("HF_ENDPOINT", f"https://hub.internal/?token={GITHUB}")
    monkeypatch.setenv("SLURM_JOB_COMMENT", f"uses {OPENAI}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")


def test_environment_values_are_redacted_not_only_secret_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _secret_environment(monkeypatch)
    env = capture.environment()
    assert env["ASSAY_URI"] == "postgresql://assay:***@db.internal/assay"
    assert env["ASSAY_API_KEY"] == REDACTED
    assert env["HF_ENDPOINT"] == f"https://hub.internal/?token={REDACTED}"
    assert env["SLURM_JOB_COMMENT"] == f"uses {REDACTED}"
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"


def _secret_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["train.py", "--api-key", "argv-k1", "--token=argv-k2", "--password", "argv-k3"]
    argv += ["--db", "postgresql://u:argv-k4@h/x", f"--note={GITHUB}", "--lr", "0.1"]
    monkeypatch.setattr(sys, "argv", argv)


def test_the_command_line_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    _secret_argv(monkeypatch)
    assert capture.host_basics()["argv"] == [
        "train.py",
        "--api-key",
        REDACTED,
        f"--token={REDACTED}",
        "--password",
        REDACTED,
        "--db",
        f"postgresql://u:{REDACTED}@h/x",
        f"--note={REDACTED}",
        "--lr",
        "0.1",
    ]


def test_a_run_stores_no_secret_anywhere_in_its_host_record(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secret_environment(monkeypatch)
    _secret_argv(monkeypatch)
    monkeypatch.chdir(repo)
    settings = Settings(
        capture_packages=False,
        capture_console=False,
        system_metrics_interval=0,
        handle_signals=False,
    )
    uri = str(tmp_path / "store")
    with assay.init(project="p", uri=uri, settings=settings) as run:
        pass
    host = assay.Api(uri).run(run.id).host
    assert host["git"]["diff_excluded"] == [".env", "conf/.env.production", "conf/server.pem"]
    assert host["env"]["CUDA_VISIBLE_DEVICES"] == "0,1" and "+lr = 0.2" in host["git"]["diff"]
    text = json.dumps(host)
    for secret in (GITHUB, OPENAI, DOTENV_SECRET, PEM_SECRET, "pg-hunter2", "ak_0123456789ab_"):
        assert secret not in text
    for n in range(1, 5):
        assert f"argv-k{n}" not in text


def test_a_diff_that_is_not_utf8_is_still_captured(repo: Path) -> None:
    (repo / "train.py").write_bytes(b"lr = 0.3  # caf\xe9\n")
    git = capture.git_info(str(repo))
    assert git is not None and "+lr = 0.3" in git["diff"]
