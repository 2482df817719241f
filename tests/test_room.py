"""One rollout-surge rule (llmctl.room), asked by compile, cost and the rollout driver alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.compile import compile_file
from llmctl.cost.estimate import rollout_surge_cost
from llmctl.release import make_release
from llmctl.rollout.plan import peak_canary, serving_changes

QUICKSTART = Path(__file__).parents[1] / "examples" / "quickstart" / "llm.yaml"


def compiled(tmp_path: Path, rollout: str, nodes: int = 2):
    text = QUICKSTART.read_text().replace("      strategy: rolling", rollout)
    text = text.replace("        nodes: 2\n", f"        nodes: {nodes}\n")
    text += "monitoring:\n  prometheus_url: http://prometheus.monitoring:9090\n"
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return compile_file(path)


@pytest.mark.parametrize(
    ("rollout", "extra"),
    [
        ("      strategy: canary\n      steps: [100]", 0),  # the 100% step is the promotion
        ("      strategy: canary\n      steps: [10, 100]", 1),
        ("      strategy: canary\n      steps: [60, 100]", 2),
        ("      strategy: blue-green", 2),
        ("      strategy: rolling", 0),
    ],
)
def test_compile_cost_and_driver_agree_on_the_surge(tmp_path, rollout, extra):
    c = compiled(tmp_path, rollout, nodes=4)
    d = c.deployment
    (placement,) = d.models[0].placements
    assert placement.rollout_surge == extra
    # the driver, for a change of that model, runs exactly that many canary replicas at most
    changed = d.models[0].model_copy(update={"revision": "0" * 40})
    old = make_release(d)
    (change,) = serving_changes(old, old.with_model(changed, old.image(changed.name)))
    assert sum(peak_canary(change).values()) == extra
    assert rollout_surge_cost(d, d.models[0]) == 0.0  # on-prem: no extra spend either way


def test_steps_of_only_100_need_no_room_so_validate_does_not_warn(tmp_path):
    # A full pool (2 nodes, 2 replicas): a canary with a partial step has no room...
    partial = compiled(tmp_path, "      strategy: canary\n      steps: [50, 100]")
    assert any("no room for the canary" in w.message for w in partial.warnings)
    # ...a promotion-only rollout reserves nothing (the driver runs no canary), so no warning.
    full = compiled(tmp_path, "      strategy: canary\n      steps: [100]")
    assert not any("no room for the canary" in w.message for w in full.warnings)
