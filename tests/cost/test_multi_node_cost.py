"""A multi-node replica costs all of its nodes: in the estimate (min, expected, max), in a
model's share, and in the surge of a canary group that a rollout budget check adds."""

from __future__ import annotations

import pytest

from llmctl import catalog
from llmctl.compile import compile_file
from llmctl.cost.estimate import check_rollout_budget, estimate, rollout_surge_cost
from llmctl.cost.prices import PriceCache

SPEC = """\
version: 1
name: big
clusters:
  - name: use1
    aws: {region: us-east-1, cluster: {existing: prod}}
    pools:
      - name: h100
        instance_type: p5.48xlarge
        min_nodes: 0
        max_nodes: 4
        disk_gb: 1000
models:
  - name: llama-405b
    source: hf://meta-llama/Llama-3.1-405B-Instruct
    placements:
      - pool: use1/h100
        replicas: 1
    rollout: {strategy: canary, steps: [50, 100]}
monitoring: {prometheus_url: "http://127.0.0.1:9"}
budget: {monthly_usd: 400000, on_exceed: block}
"""


@pytest.fixture
def deployment(tmp_path):
    path = tmp_path / "llm.yaml"
    path.write_text(SPEC)
    return compile_file(path).deployment


def _node_month() -> float:
    price = catalog.instance_types()["p5.48xlarge"].price_usd_hour["us-east-1"]
    return price * catalog.HOURS_PER_MONTH + 1000 * 0.08  # + the gp3 root disk


def test_one_replica_costs_its_two_whole_nodes(deployment, tmp_path):
    est = estimate(deployment, prices=PriceCache(tmp_path / "none.json", entries={}))
    (pool,) = est.by_pool
    assert pool.nodes["min"] == pool.nodes["expected"] == 2  # one group, from min 0 nodes
    assert pool.nodes["max"] == 4
    assert est.by_pool[0].total.expected == pytest.approx(2 * _node_month(), abs=1)
    (model,) = est.by_model
    assert (model.gpus_per_replica, model.nodes_per_replica) == (16, 2)
    assert model.to_json()["nodes_per_replica"] == 2
    assert model.monthly.expected == pytest.approx(2 * _node_month(), abs=1)


def test_a_canary_group_surges_two_whole_nodes_and_is_budget_checked(deployment, tmp_path):
    prices = PriceCache(tmp_path / "none.json", entries={})
    surge = rollout_surge_cost(deployment, "llama-405b", prices)
    assert surge == pytest.approx(2 * _node_month(), abs=0.01)
    est = estimate(deployment, prices=prices)
    check = check_rollout_budget(deployment, "llama-405b", est, prices)
    assert check.status == "ok"
    tight = deployment.model_copy(
        update={"budget": deployment.budget.model_copy(update={"monthly_usd": 3 * _node_month()})}
    )
    assert check_rollout_budget(tight, "llama-405b", est, prices).status != "ok"
