"""The human plan fits the terminal: short types, names without the deployment, details under
the name when a line would be too wide (issue 10, point 5)."""

from __future__ import annotations

import json

import pytest

from llmctl.cli.plan_view import short_type
from tests.conftest import EXAMPLES, example


@pytest.mark.parametrize("name", EXAMPLES)
def test_offline_plan_fits_80_columns(cli, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli("plan", "-f", str(example(name)), "--offline")
    assert code == 0, err
    too_wide = [line for line in (out + err).splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    assert "Plan: " in out and "Cost (USD / month)" in out


def test_names_do_not_repeat_the_deployment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    spec = tmp_path / "llm.yaml"
    assert cli("init", "-f", str(spec))[0] == 0
    code, out, _ = cli("plan", "-f", str(spec))
    assert code == 0
    assert "gateway-my-llm-my-llm" not in out and "my-llm-my-llm" not in out
    lines = out.splitlines()
    assert any(ln.split() == ["+", "k8s:Gateway", "my-llm"] for ln in lines)
    assert any(ln.split()[:3] == ["+", "k8s:Deployment", "llama-8b-gpu"] for ln in lines)
    # JSON keeps Pulumi's full type tokens and logical names
    code, out, _ = cli("plan", "-f", str(spec), "--json")
    resources = [r for s in json.loads(out)["stacks"] for r in s["resources"]]
    assert {
        "type": "kubernetes:gateway.networking.k8s.io/v1:Gateway",
        "name": "gateway-my-llm-my-llm",
        "op": "create",
    } in resources


@pytest.mark.parametrize(
    "token, short",
    [
        ("aws:eks/nodeGroup:NodeGroup", "aws:eks:NodeGroup"),
        ("kubernetes:apps/v1:Deployment", "k8s:Deployment"),
        ("kubernetes:helm.sh/v3:Release", "helm:Release"),
        ("pulumi:providers:kubernetes", "provider:kubernetes"),
        (
            "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyExtensionPolicy",
            "k8s:EnvoyExtensionPolicy",
        ),
    ],
)
def test_short_types(token, short):
    assert short_type(token) == short
