"""examples/ci: the GitHub Actions and GitLab CI files parse, and run what UX.md says CI runs."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_plans_offline_on_review_and_applies_with_yes(name):
    text = (ROOT / "examples" / "ci" / name).read_text()
    assert isinstance(yaml.safe_load(text), dict)
    assert "llmctl validate -f llm.yaml" in text
    assert "llmctl plan -f llm.yaml --offline --json" in text
    assert "llmctl apply -f llm.yaml --yes" in text


def test_a_plan_without_a_baseline_says_so_loudly(cli, tmp_path, monkeypatch):
    """A CI job without credentials for a shared s3:// state: the plan says first, and its JSON
    says, that there is no baseline (issue 10, point 12)."""
    import json

    from tests.conftest import example

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    spec = tmp_path / "llm.yaml"
    spec.write_text(example("quickstart").read_text() + "state: s3://team-bucket/llmctl\n")
    code, out, err = cli("plan", "-f", str(spec), "--offline", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["baseline"]["read"] is False and "s3://team-bucket" in data["baseline"]["reason"]
    assert any(w.startswith("no baseline:") for w in data["warnings"])
    code, out, err = cli("plan", "-f", str(spec), "--offline")
    first = out.splitlines()[1]  # right under the offline banner
    assert first.startswith("warning: no baseline: could not read the last applied revision")
    assert "NO BASELINE" in out and (out + err).count("no baseline:") == 1
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        assert "baseline" in (ROOT / "examples" / "ci" / name).read_text()


def test_a_plan_with_a_readable_state_names_its_baseline(cli, tmp_path):
    import json

    from tests.conftest import example

    code, out, _ = cli("plan", "-f", str(example("quickstart")), "--offline", "--json")
    assert code == 0 and json.loads(out)["baseline"] == {"read": True, "reason": "", "revision": None}
