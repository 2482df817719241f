"""Inline secrets (issue 14, item 6): detected in every form they are written in, refused, and
never printed (human output, --json, excerpts of other errors on the same line) or stored."""

from __future__ import annotations

import json

import pytest

from tests.spec.test_loader import BASE

AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
SK = "sk-" + "a1b2c3d4" * 4
HF = "hf_" + "Q" * 34
PASSWORD = "hunter2-" + "x7" * 6

# (how it is written, the secret that must never be shown)
CASES = [
    (
        "flow-mapping",
        BASE.replace("name: t\n", f"name: t\nlabels: {{owner: {AWS}, team: ml}}\n"),
        AWS,
    ),
    (
        "flow-list",
        BASE.replace("placements:", f"engine: {{extra_args: [{SK}]}}\n    placements:"),
        SK,
    ),
    (
        "trailing-comment",
        BASE + f"gateway:\n  api_key: {PASSWORD} # the prod one\n",
        PASSWORD,
    ),
    ("double-quoted-key", BASE + f'gateway:\n  "api_key": {PASSWORD}\n', PASSWORD),
    ("single-quoted-key", BASE + f"gateway:\n  'password': '{PASSWORD}'\n", PASSWORD),
    (
        "flow-secret-key",
        BASE + f"gateway: {{hostname: h.example.com, token: {PASSWORD}}}\n",
        PASSWORD,
    ),
    (
        "url-credentials",
        BASE + f"monitoring: {{prometheus_url: 'https://admin:{PASSWORD}@prom.example.com'}}\n",
        PASSWORD,
    ),
    (
        "url-credentials-block",
        BASE + f"monitoring:\n  prometheus_url: https://admin:{PASSWORD}@prom:9090/x\n",
        PASSWORD,
    ),
    ("comment", BASE.replace("version: 1\n", f"version: 1\n# old key: {HF}\n"), HF),
    ("as-a-key", BASE.replace("name: t\n", f"name: t\nlabels:\n  {AWS}: x\n"), AWS),
    (
        "extra-args-flag",
        BASE.replace(
            "placements:", f"engine: {{extra_args: ['--api-key={PASSWORD}']}}\n    placements:"
        ),
        PASSWORD,
    ),
    (
        "extra-args-flag-value",
        BASE.replace(
            "placements:",
            f"engine:\n      extra_args:\n        - --api-key\n        - {PASSWORD}\n    placements:",
        ),
        PASSWORD,
    ),
    (
        "list-of-keys",
        BASE + f"gateway:\n  api_keys:\n    - {PASSWORD}\n    - other-{PASSWORD}\n",
        PASSWORD,
    ),
    (
        "multi-line",
        BASE + f"gateway:\n  api_key: |\n    {PASSWORD}\n    more\n",
        PASSWORD,
    ),
    (
        "same-line-as-another-error",
        BASE.replace("name: t\n", f"name: t\nlabels: {{owner: {AWS}, bad: [1]}}\n"),
        AWS,
    ),
    (
        "syntax-error-on-its-line",
        BASE + f"gateway: {{api_key: {PASSWORD}, hostname: [}}\n",
        PASSWORD,
    ),
]


@pytest.mark.parametrize("text, secret", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_inline_secret_is_refused_and_never_shown(cli, tmp_path, text, secret):
    spec = tmp_path / "llm.yaml"
    spec.write_text(text)
    code, out, err = cli("validate", "-f", str(spec))
    assert code == 1
    assert secret not in out + err
    assert "Traceback" not in err and "internal error" not in err
    code, out, err = cli("validate", "-f", str(spec), "--json")
    assert code == 1 and secret not in out + err
    data = json.loads(out)
    assert data["valid"] is False and data["errors"]
    code, out, err = cli("plan", "-f", str(spec), "--offline", "--json")
    assert code == 1 and secret not in out + err


@pytest.mark.parametrize(
    "text, secret",
    [c[1:] for c in CASES if c[0] != "syntax-error-on-its-line"],
    ids=[c[0] for c in CASES if c[0] != "syntax-error-on-its-line"],
)
def test_every_inline_secret_is_an_error_of_its_own(tmp_path, text, secret):
    from llmctl.compile import compile_file
    from llmctl.errors import SpecInvalid

    spec = tmp_path / "llm.yaml"
    spec.write_text(text)
    with pytest.raises(SpecInvalid) as info:
        compile_file(spec)
    found = [
        d
        for d in info.value.diagnostics
        if "secret" in d.message or "looks like" in d.message or "credential" in d.message
    ]
    assert found, [d.message for d in info.value.diagnostics]
    assert all(secret not in d.message + d.hint + d.path for d in info.value.diagnostics)
    assert secret not in (info.value.source_text or "")


def test_a_refused_spec_is_never_stored(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(BASE + f"monitoring: {{prometheus_url: 'https://u:{PASSWORD}@p'}}\n")
    code, _, _ = cli("apply", "-f", str(spec), "--yes")
    assert code == 1
    import os

    home = os.environ["LLMCTL_HOME"]
    for path in __import__("pathlib").Path(home).rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    "line, kept",
    [
        ("  source: hf://acme/sk-learn-classifier-large-v2", "sk-learn-classifier-large-v2"),
        ("  name: risk-assessment-model-version-two", "risk-assessment-model-version-two"),
        ("  api_keys: {secret_env: LLMCTL_API_KEYS}", "LLMCTL_API_KEYS"),
        ("  hf_token_secret: hf-token", "hf-token"),
        ("  prometheus_url: http://prometheus.monitoring:9090", "prometheus.monitoring:9090"),
    ],
)
def test_masking_keeps_what_is_not_a_secret(line, kept):
    from llmctl.spec.secrets import mask_secrets

    assert kept in mask_secrets(line)


def test_no_example_looks_like_it_holds_a_secret():
    from llmctl.compile import compile_file
    from tests.conftest import EXAMPLES, example

    for name in EXAMPLES:
        compile_file(example(name))  # raises on any finding
