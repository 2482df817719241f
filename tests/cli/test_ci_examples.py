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
