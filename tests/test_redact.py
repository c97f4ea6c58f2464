"""assay.redact: what it hides (URI passwords, secret query parameters, token shapes,
secret option and variable values) and what it leaves alone."""

from __future__ import annotations

import pytest

from assay.redact import (
    REDACTED,
    is_secret_name,
    redact_argv,
    redact_env,
    redact_text,
    redact_tree,
    redact_uri,
)

ASSAY_KEY = "ak_0123456789ab_" + "S" * 32
GITHUB = "ghp_" + "a1B2" * 9
TOKENS = {
    "assay": ASSAY_KEY,
    "openai": "sk-proj-" + "x" * 40,
    "anthropic": "sk-ant-api03-" + "y" * 40,
    "github": GITHUB,
    "github-fine-grained": "github_pat_" + "Z" * 40,
    "hugging face": "hf_" + "q" * 34,
    "slack": "xoxb-1234567890-abcdefghij",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "google": "AIza" + "k" * 35,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
}


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_known_token_shapes_are_hidden_anywhere_in_a_text(kind: str) -> None:
    token = TOKENS[kind]
    hidden = redact_text(f"config: {token}, then more")
    assert token not in hidden and hidden == f"config: {REDACTED}, then more"


def test_a_bearer_token_is_hidden() -> None:
    assert "abcdefghijklmnopqrstuvwxyz" not in redact_text(
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://me:hunter2@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://me:p@ss@host/x", "https://me:***@host/x"),  # an unescaped '@' in it
        ("https://host/x?token=abc&page=2", "https://host/x?token=***&page=2"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=9f8e&x=1",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1",
        ),
        ("https://host/api?api_key=k1#frag", "https://host/api?api_key=***#frag"),
        ("https://me@host/x?author=bob", "https://me@host/x?author=bob"),
        ("file:///home/me/data", "file:///home/me/data"),
    ],
)
def test_uri_passwords_and_secret_query_parameters_are_hidden(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected
    assert redact_text(f"cannot open {uri} now") == f"cannot open {expected} now"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("export DB_PASSWORD=hunter2", "export DB_PASSWORD=***"),
        ('OPENAI_API_KEY = "abc123"', 'OPENAI_API_KEY = "***"'),
        ("SECRET_KEY='x y'", "SECRET_KEY='***'"),
        ("MAX_TOKENS = 512", "MAX_TOKENS = 512"),
        ("sorted(rows, key=len)", "sorted(rows, key=len)"),
        ("if API_KEY == token:", "if API_KEY == token:"),
    ],
)
def test_assignments_to_secret_variable_names_are_hidden(line: str, expected: str) -> None:
    assert redact_text(line) == expected


@pytest.mark.parametrize(
    "text",
    [
        "plain words and sk-learn and task-1234",
        "commit 4ae498a0f2b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7",
        "https://github.com/org/repo.git",
        "loss=0.31 acc=0.9 lr=1e-3",
        "a bearer of bad news",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_secret_option_values_are_hidden_in_both_forms() -> None:
    argv = [
        "train.py",
        "--api-key",
        "k1",
        "--token=k2",
        "--password",
        "k3",
        "--db-password=k4",
        "--hf-token",
        "k5",
        "--lr",
        "0.1",
    ]
    assert redact_argv(argv) == [
        "train.py",
        "--api-key",
        REDACTED,
        f"--token={REDACTED}",
        "--password",
        REDACTED,
        f"--db-password={REDACTED}",
        "--hf-token",
        REDACTED,
        "--lr",
        "0.1",
    ]


def test_argv_hides_uris_tokens_and_config_overrides_but_not_the_next_option() -> None:
    argv = [
        "run.py",
        "--db",
        "postgresql://me:pw1@db/x",
        f"--note={GITHUB}",
        "optimizer.api_key=k6",
        "+trainer.token=k7",
        "API_KEY=k8",
        "model.depth=3",
        "--use-auth-token",
        "--epochs",
        "3",
    ]
    assert redact_argv(argv) == [
        "run.py",
        "--db",
        "postgresql://me:***@db/x",
        f"--note={REDACTED}",
        f"optimizer.api_key={REDACTED}",
        f"+trainer.token={REDACTED}",
        f"API_KEY={REDACTED}",
        "model.depth=3",
        "--use-auth-token",
        "--epochs",
        "3",
    ]


def test_environment_values_are_checked_by_name_and_by_content() -> None:
    env = {
        "ASSAY_URI": "postgresql://me:hunter2@db/assay",
        "HF_TOKEN": "anything",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "SLURM_JOB_NAME": f"train {GITHUB}",
    }
    assert redact_env(env) == {
        "ASSAY_URI": "postgresql://me:***@db/assay",
        "HF_TOKEN": REDACTED,
        "CUDA_VISIBLE_DEVICES": "0,1",
        "SLURM_JOB_NAME": f"train {REDACTED}",
    }


def test_a_tree_has_every_string_leaf_redacted_and_keeps_its_shape() -> None:
    tree = {"a": [f"x {GITHUB}", 3, None, {"b": "redis://:pw@h/0"}], "n": 1.5, "t": True}
    assert redact_tree(tree) == {
        "a": [f"x {REDACTED}", 3, None, {"b": "redis://:***@h/0"}],
        "n": 1.5,
        "t": True,
    }


@pytest.mark.parametrize(
    ("name", "secret"),
    [("AWS_SECRET_ACCESS_KEY", True), ("db_password", True), ("PATH", False), ("RANK", False)],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_private_key_blocks_are_hidden_whole() -> None:
    diff = (
        "+x\n+-----BEGIN OPENSSH PRIVATE KEY-----\n+b3BlbnNzaC1rZXk\n"
        "+-----END OPENSSH PRIVATE KEY-----\n+y"
    )
    out = redact_text(diff)
    assert "b3BlbnNzaC1rZXk" not in out and out.startswith("+x\n") and out.endswith("+y")


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("  DB_PASSWORD: K8SYAMLPW", "K8SYAMLPW"),
        ('  API_TOKEN: "K8STOKEN"', "K8STOKEN"),
        ("password: hunter2 # a comment", "hunter2"),
        ('{"api_key": "abc123", "lr": 0.1}', "abc123"),
    ],
)
def test_secret_entries_of_yaml_and_json_are_hidden(line: str, secret: str) -> None:
    assert secret not in redact_text(line)


def test_mapping_entries_that_are_not_secrets_stay() -> None:
    text = "name: resnet\nmax_tokens: 100\nlr: 0.1"
    assert redact_text(text) == text


def test_a_secret_query_parameter_inside_a_longer_name_is_hidden() -> None:
    uri = "postgresql://u:pw@h/x?sslpassword=SSLPW&sslmode=require"
    assert redact_uri(uri) == "postgresql://u:***@h/x?sslpassword=***&sslmode=require"


def test_webhook_urls_and_pwd_options_are_hidden() -> None:
    assert "T000/B000" not in redact_text("https://hooks.slack.com/services/T000/B000/abcd1234")
    assert redact_argv(["train.py", "--pwd", "P"]) == ["train.py", "--pwd", "***"]
