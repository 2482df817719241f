"""The budget during a rollout: a plan that changes a model's serving identity shows the canary's
extra cost and checks it against the budget (in --json under cost.rollouts)."""

from __future__ import annotations

import json

from llmctl import catalog
from llmctl.engine import lifecycle

REV_A = "0e9e39f249a16976918f6564b8830bc894c89659"
REV_B = "5206a32e0bd3067aef1ce90f5528ade7d866253f"
SPEC = """\
version: 1
name: surge
clusters:
  - name: use1
    aws: {region: us-east-1, cluster: {create: true}}
    pools:
      - name: l40s
        instance_type: g6e.xlarge
        min_nodes: 2
        max_nodes: 4
models:
  - name: llama
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: REV
    placements: [{pool: use1/l40s, replicas: 2}]
    rollout: {strategy: canary, steps: [10, 50, 100]}
monitoring: {prometheus_url: "http://127.0.0.1:9"}
budget: {monthly_usd: 100000, on_exceed: block}
"""


def test_plan_prices_the_canary_surge_of_a_serving_change(cli, standin_cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(SPEC.replace("REV", REV_A))
    code, out, err = cli("plan", "-f", str(spec), "--offline", "--json")
    assert code == 0, err
    assert "rollouts" not in json.loads(out)["cost"]  # nothing deployed yet: no rollout
    # deploy revision A for real (through the stand-in CLI), then plan revision B
    code, _, err = cli("apply", "-f", str(spec), "--yes")
    assert code == 0, err
    spec.write_text(SPEC.replace("REV", REV_B))
    code, out, err = cli("plan", "-f", str(spec), "--offline", "--json")
    assert code == 0, err
    [rollout] = json.loads(out)["cost"]["rollouts"]
    # 2 replicas, largest canary step below 100 is 50%: 1 extra replica = 1 g6e.xlarge node
    price = catalog.instance_types()["g6e.xlarge"].price_usd_hour["us-east-1"]
    node_month = price * catalog.HOURS_PER_MONTH + 200 * 0.08  # + its gp3 root disk
    assert rollout["model"] == "llama" and rollout["strategy"] == "canary"
    assert abs(rollout["surge_monthly_usd"] - round(node_month, 2)) < 0.01
    assert rollout["budget"]["status"] == "ok"
    assert rollout["budget"]["message"].startswith(
        f"expected monthly cost with the rollout of llama (+{node_month:,.0f} USD)"
    )


def test_enforce_budget_blocks_a_rollout_over_budget():
    from llmctl.errors import BudgetExceeded
    from llmctl.plan import Plan

    plan = Plan(offline=True, cost={"budget": {"status": "ok"}, "rollouts": [
        {"model": "m", "budget": {"status": "block", "message": "over by 10 USD"}, "hint": "h"}]})
    try:
        lifecycle.enforce_budget(plan)
    except BudgetExceeded as exc:
        assert exc.exit_code == 3 and exc.message == "over by 10 USD" and exc.hint == "h"
    else:
        raise AssertionError("a rollout over budget must block")
