"""Errors a new user makes, in plain words at the right line, with a hint for the situation
(issue 10, points 6 and 7)."""

from __future__ import annotations

import pytest

from tests.conftest import example


@pytest.fixture
def spec(tmp_path, cli):
    path = tmp_path / "llm.yaml"
    assert cli("init", "-f", str(path))[0] == 0
    return path


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def lines_of(path, needle):
    return [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]


def test_enum_typo_gets_did_you_mean_and_no_contradicting_warning(cli, spec):
    edit(spec, "strategy: rolling", "strategy: rollin")
    code, _, err = cli("validate", "-f", str(spec))
    assert code == 1
    assert "'rollin' is not one of canary, blue-green, rolling" in err
    assert "hint: did you mean 'rolling'?" in err
    assert "canary rollout" not in err
    assert not [line for line in err.splitlines() if "warning" in line and "rollout" in line]


def test_missing_space_after_colon_is_reported_on_its_own_line(cli, spec):
    edit(spec, "replicas: 2", "replicas:2")
    code, _, err = cli("validate", "-f", str(spec))
    (line,) = lines_of(spec, "replicas:2")
    assert code == 1
    assert f"{spec}:{line}:" in err and "`replicas:2` needs a space after the colon" in err
    assert "hint: write `replicas: 2`" in err


@pytest.mark.parametrize(
    "text, line, words",
    [
        (
            "version: 1\nname: x\nclusters:\n  - name: a\n    kubernetes: {}\n   pools: []\n",
            6,
            "bad indentation",
        ),
        ("a:\n  - x\n  y: 1\n", 3, "bad indentation"),
        ("version: 1\n\tname: x\n", 2, "tab character"),
        ("name: 'x\nversion: 1\n", 1, "never closed"),
        ("clusters: [1, 2\nname: x\n", 1, "is not closed"),
    ],
)
def test_yaml_syntax_errors_in_plain_words(cli, tmp_path, text, line, words):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    code, _, err = cli("validate", "-f", str(path))
    assert code == 1 and f"{path}:{line}:" in err and words in err, err
    assert "<block end>" not in err and "'?'" not in err


def test_one_root_cause_is_one_error(cli, spec):
    edit(
        spec, "      context: default", "      context: default\n    aws:\n      region: us-west-2"
    )
    code, _, err = cli("validate", "-f", str(spec))
    assert code == 1
    assert "cluster 'onprem' has both `kubernetes:` and `aws:`" in err
    assert "error: 1 error in the spec" in err
    assert "is for kubernetes pools" not in err and "needs `instance_type`" not in err


@pytest.mark.parametrize(
    "old, new, hint",
    [
        (
            "monthly_usd: 5000",
            "monthly_usd: lots",
            "`monthly_usd` takes a number, without units or commas",
        ),
        ("nodes: 2 ", "nodes: 0 ", "`nodes` must be at least 1"),
        ("max_model_len: 8192", "max_model_len: big", "`max_model_len` takes a whole number"),
        ("name: my-llm ", "name: My_LLM ", "`name`: lowercase letters, digits and '-'"),
        ("version: 1", "version: 2", "write `version: 1`"),
    ],
)
def test_hints_are_written_for_the_error(cli, spec, old, new, hint):
    code, _, err = cli("validate", "-f", str(edit(spec, old, new)))
    assert code == 1 and f"hint: {hint}" in err, err
    assert "hint: Most the deployment" not in err


def test_model_architecture_error_names_one_model(cli, spec):
    edit(spec, "hf://meta-llama/Llama-3.1-8B-Instruct", "hf://acme/custom-model")
    code, _, err = cli("validate", "-f", str(spec))
    assert code == 1 and "model 'llama-8b' needs `architecture`" in err


def test_budget_hint_names_the_lever_of_each_kind_of_pool(cli, spec):
    edit(spec, "monthly_usd: 5000", "monthly_usd: 100")
    code, _, err = cli("plan", "-f", str(spec))
    assert code == 3
    assert "lower nodes of onprem/gpu" in err and "max_nodes" not in err
    code, _, err = cli("plan", "-f", str(example("aws")))
    assert "lower nodes" not in err


def test_destroy_without_pulumi_does_not_suggest_an_offline_plan(cli, spec, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = cli("destroy", "-f", str(spec), "--yes")
    assert code == 1 and "Pulumi CLI" in err and "plan --offline" not in err
