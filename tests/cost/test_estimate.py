"""The estimate: figures computed here from the spec and the catalog, independently of the code."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmctl import catalog
from llmctl.compile import compile_file
from llmctl.cost.estimate import (
    check_budget,
    check_rollout_budget,
    estimate,
    expected_replicas,
    rollout_surge_cost,
)
from llmctl.cost.prices import PriceCache
from llmctl.errors import BudgetExceeded, ExitCode
from llmctl.ir import BudgetIR
from tests.conftest import example

H = 730  # hours in a month, AWS's convention
GP3 = 0.08  # USD per GB-month
EKS = 0.10 * H
# a created cluster's system nodes (2 x m6i.large, 0.096 USD/h in us-west-2) and NAT gateway (0.045)
SYSTEM_USW2 = (2 * 0.096 + 0.045) * H


def ir(name: str):
    return compile_file(example(name)).deployment


def no_cache(tmp_path: Path) -> PriceCache:
    return PriceCache(tmp_path / "prices.json")


def price(instance_type: str, region: str) -> tuple[float, float]:
    it = catalog.instance_types()[instance_type]
    return it.price_usd_hour[region], it.spot_usd_hour[region]


def test_quickstart_is_two_l4_nodes_at_the_spec_gpu_hour(tmp_path):
    est = estimate(ir("quickstart"), prices=no_cache(tmp_path))
    monthly = 2 * 1 * 0.45 * 730  # nodes x GPUs per node x gpu_hour_usd x hours
    assert monthly == pytest.approx(657.0)
    assert est.monthly.min == est.monthly.expected == est.monthly.max == pytest.approx(monthly)
    (model,) = est.by_model
    assert model.name == "qwen-7b" and model.monthly.expected == pytest.approx(monthly)
    assert est.unallocated.max == pytest.approx(0)
    assert est.delta_monthly_usd == pytest.approx(monthly)  # nothing applied: all of it is new
    data = est.to_json()
    assert data["monthly_usd"] == {"min": 657.0, "expected": 657.0, "max": 657.0}
    assert data["prices"] == {"source": "gpu_hour_usd", "date": None}
    assert data["budget"] is None and est.budget is not None and est.budget.status == "none"


def test_hybrid_on_prem_spot_overflow_failover_and_control_plane(tmp_path):
    est = estimate(ir("hybrid"), prices=no_cache(tmp_path))
    od, spot = price("g6e.xlarge", "us-west-2")
    onprem = 3 * 4 * 0.85 * H  # 3 nodes x 4 L40S x 0.85, in every scenario
    disk = 200 * GP3  # default disk_gb, per node
    # burst: overflow 0..6 replicas of 1 GPU -> 0 nodes at rest, and for its 40 overflow hours
    # a month 6 nodes, on spot (spot first); max: 8 nodes on on-demand.
    burst = {"min": 0.0, "expected": 40 * 6 * (spot + disk / H), "max": 8 * (od * H + disk)}
    # standby: failover, a warm standby of min 1 -> 1 on-demand node at min and expected; max 2.
    standby = {"min": od * H + disk, "expected": od * H + disk, "max": 2 * (od * H + disk)}
    for s in ("min", "expected", "max"):
        assert est.pool("onprem/l40s").total.get(s) == pytest.approx(onprem)
        assert est.pool("aws/burst").total.get(s) == pytest.approx(burst[s])
        assert est.pool("aws/standby").total.get(s) == pytest.approx(standby[s])
        assert est.monthly.get(s) == pytest.approx(onprem + burst[s] + standby[s] + EKS + SYSTEM_USW2)
    assert est.pool("aws/burst").nodes == {"min": 0, "expected": 0, "max": 8}
    burst_cost = est.pool("aws/burst")
    assert burst_cost.basis == "spot"
    assert burst_cost.spot_savings == pytest.approx(40 * 6 * (od - spot))
    (overflow,) = est.overflow  # how the expected figure was derived, for the plan
    assert (overflow.model, overflow.pool, overflow.at_rest, overflow.at_max) == (
        "mistral-7b",
        "aws/burst",
        0,
        6,
    )
    assert overflow.extra_nodes == 6 and overflow.hours == 40
    assert overflow.per_hour == pytest.approx(6 * (spot + disk / H))
    assert overflow.expected == pytest.approx(burst["expected"])
    assert "overflow_hours_per_month" in overflow.derivation()
    assert est.pool("aws/standby").basis == "on-demand" and est.pool("aws/standby").spot_savings is None
    (aws,) = [c for c in est.by_cluster if c.cluster.name == "aws"]
    assert aws.control_plane == pytest.approx(73.0)
    # mistral-7b holds 4 of the 12 on-prem GPUs, and all of the aws nodes it runs on.
    (model,) = est.by_model
    assert model.monthly.min == pytest.approx(onprem * 4 / 12 + standby["min"])
    assert model.monthly.expected == pytest.approx(
        onprem * 4 / 12 + burst["expected"] + standby["expected"]
    )
    assert est.unallocated.min == pytest.approx(onprem * 8 / 12)


def test_a_pool_never_costs_less_than_its_fixed_replicas_need(tmp_path):
    est = estimate(ir("aws"), prices=no_cache(tmp_path))
    od, _ = price("p5.48xlarge", "us-east-1")
    # h100 has min_nodes 0, but llama-70b runs 2 fixed replicas x 4 GPUs: one 8-GPU node always.
    h100 = est.pool("use1/h100")
    assert h100.nodes == {"min": 1, "expected": 1, "max": 2}
    assert h100.total.min == pytest.approx(od * H + 1000 * GP3)
    # l40s: min_nodes 1, but qwen-7b's 2 minimum replicas need 2; expected ceil((2+6)/2) = 4.
    assert est.pool("use1/l40s").nodes == {"min": 2, "expected": 4, "max": 9}


def test_model_shares_split_a_shared_pool_by_gpus(tmp_path):
    est = estimate(ir("multi-model"), prices=no_cache(tmp_path))
    pool = 2 * 8 * 2.00 * H
    shares = {m.name: m.monthly.expected for m in est.by_model}
    # 2 replicas each; qwen-32b takes 2 GPUs per replica, the others 1.
    assert shares == pytest.approx({"llama-8b": pool * 2 / 16, "qwen-32b": pool * 4 / 16,
                                    "phi-4": pool * 2 / 16, "gpt-oss-20b": pool * 2 / 16})
    assert est.unallocated.expected == pytest.approx(pool * 6 / 16)
    assert sum(shares.values()) + est.unallocated.expected == pytest.approx(est.monthly.expected)


@pytest.mark.parametrize(("low", "high", "traffic", "autoscaled", "want"), [
    (2, 2, "active", False, 2),
    (2, 6, "active", True, 4),
    (1, 2, "active", True, 2),  # the midpoint 1.5 rounds up
    (2, 6, "active", False, 2),  # no autoscaling: stays at min
    (0, 6, "overflow", False, 0),  # at rest: its hours at max are OverflowCost's
    (1, 6, "overflow", True, 1),
    (0, 2, "failover", True, 0),
])  # fmt: skip
def test_expected_replicas_rule(low, high, traffic, autoscaled, want):
    model = ir("hybrid").models[0]
    placement = model.placements[0].model_copy(
        update={"min_replicas": low, "max_replicas": high, "traffic": traffic})
    if not autoscaled:
        model = model.model_copy(update={"autoscaling": None})
    assert expected_replicas(model, placement) == want


def test_delta_against_the_current_revision(tmp_path):
    new = ir("hybrid")
    cur = compile_file(_edited(tmp_path, "hybrid", "max: 6}\n        traffic: overflow",
                               "max: 2}\n        traffic: overflow")).deployment
    est = estimate(new, cur, prices=no_cache(tmp_path))
    _, spot = price("g6e.xlarge", "us-west-2")
    # Only the burst placement changed: 40 overflow hours a month at 2 nodes then, 6 now.
    assert est.delta_monthly_usd == pytest.approx(40 * 4 * (spot + 200 * GP3 / H))
    assert est.current is not None
    assert est.to_json()["current_monthly_usd"]["expected"] == pytest.approx(
        est.monthly.expected - est.delta_monthly_usd, abs=0.01)


def test_the_delta_ignores_a_catalog_price_change_between_versions(tmp_path):
    new = ir("hybrid")
    # The same deployment, compiled by an llmctl whose catalog priced g6e.xlarge higher.
    old = new.model_copy(update={"clusters": tuple(
        c.model_copy(update={"pools": tuple(p.model_copy(update={"node_hour_usd": 9.9})
                                            if p.instance_type else p for p in c.pools)})
        for c in new.clusters)})
    assert estimate(new, old, prices=no_cache(tmp_path)).delta_monthly_usd == pytest.approx(0)


def test_a_fresh_price_cache_entry_wins_over_the_catalog(tmp_path):
    cache = no_cache(tmp_path)
    cache.put("g6e.xlarge", "us-west-2", 2.0, 0.5)
    est = estimate(ir("hybrid"), prices=cache)
    burst = est.pool("aws/burst")
    assert (burst.price.on_demand, burst.price.spot, burst.price.source) == (2.0, 0.5, "cache")
    assert burst.total.max == pytest.approx(8 * (2.0 * H + 200 * GP3))
    assert burst.total.expected == pytest.approx(40 * 6 * (0.5 + 200 * GP3 / H))  # overflow hours
    assert est.prices["source"] == "cache"
    assert est.prices["date"] == datetime.now(UTC).date().isoformat()


def test_a_stale_cache_entry_falls_back_to_the_catalog_with_a_note(tmp_path):
    cache = no_cache(tmp_path)
    cache.put("g6e.xlarge", "us-west-2", 2.0, 0.5, fetched_at=datetime.now(UTC) - timedelta(days=30))
    est = estimate(ir("hybrid"), prices=cache)
    assert est.pool("aws/burst").price.source == "catalog"
    assert est.pool("aws/burst").price.on_demand == price("g6e.xlarge", "us-west-2")[0]
    assert any("stale" in n and "--refresh-prices" in n for n in est.notes)


def test_estimate_reads_the_default_cache_when_given_none(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMCTL_HOME", str(tmp_path))
    cache = PriceCache.load()
    cache.put("g6e.xlarge", "us-west-2", 3.0, None)
    cache.save()
    est = estimate(ir("hybrid"))
    assert est.pool("aws/standby").price.on_demand == 3.0
    # no cached spot price: the catalog's spot estimate stays in use for the spot-first pool
    assert est.pool("aws/burst").price.spot == price("g6e.xlarge", "us-west-2")[1]


# --- budgets -----------------------------------------------------------------------------------


def with_budget(name: str, monthly: float, on_exceed: str):
    d = ir(name)
    return d.model_copy(update={"budget": BudgetIR(monthly_usd=monthly, on_exceed=on_exceed)})


@pytest.mark.parametrize(("limit", "on_exceed", "status"), [
    (657.0, "block", "ok"),  # at the budget is within it
    (656.0, "block", "block"),
    (656.0, "warn", "warn"),
    (10_000.0, "warn", "ok"),
])  # fmt: skip
def test_check_budget_compares_the_max(tmp_path, limit, on_exceed, status):
    d = with_budget("quickstart", limit, on_exceed)
    est = estimate(d, prices=no_cache(tmp_path))
    check = check_budget(d, est)
    assert check.status == status
    assert est.to_json()["budget"]["status"] == status
    if status == "ok":
        assert "within the budget" in check.message
        check.raise_if_blocked()
    else:
        assert check.message == (f"max monthly cost 657 USD exceeds the budget of {limit:,.0f} USD "
                                 f"by {657 - limit:,.0f} USD (on_exceed: {on_exceed})")
        assert "lab/l4 657 USD" in check.hint
    if status == "block":
        with pytest.raises(BudgetExceeded) as info:
            check.raise_if_blocked()
        assert info.value.exit_code == ExitCode.BLOCKED == 3


def test_rollout_surge_cost(tmp_path):
    d = ir("aws")
    cache = no_cache(tmp_path)
    od_p5, _ = price("p5.48xlarge", "us-east-1")
    od_l40s, _ = price("g6e.xlarge", "us-east-1")
    # blue-green: a full copy of 2 replicas x 4 GPUs = one more 8-GPU node, on-demand.
    assert rollout_surge_cost(d, "llama-70b", cache) == pytest.approx(od_p5 * H + 1000 * GP3, abs=0.01)
    # canary [10, 50, 100] over max 6 replicas: ceil(6 x 50%) = 3 one-GPU nodes.
    assert rollout_surge_cost(d, "qwen-7b", cache) == pytest.approx(3 * (od_l40s * H + 300 * GP3),
                                                                    abs=0.01)
    # on-prem nodes are paid for in every scenario: a canary there costs nothing more
    assert rollout_surge_cost(ir("onprem"), "llama-8b", cache) == 0.0


def test_rollout_budget_adds_the_surge_to_the_expected_cost(tmp_path):
    d = with_budget("aws", 60_000, "block")
    est = estimate(d, prices=no_cache(tmp_path))
    assert est.budget is not None and est.budget.status == "block"  # max 93,034
    check = check_rollout_budget(d, "qwen-7b", est, no_cache(tmp_path))
    surge = rollout_surge_cost(d, "qwen-7b", no_cache(tmp_path))
    assert check.status == "ok" and check.compared_usd == pytest.approx(est.monthly.expected + surge)
    check = check_rollout_budget(d, "llama-70b", est, no_cache(tmp_path))
    assert check.status == "block"  # 42,872 + 40,259 > 60,000
    assert "with the rollout of llama-70b" in check.message and "60,000 USD" in check.message


def _edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = example(name).read_text()
    assert old in text
    path = tmp_path / f"{name}-edited.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_every_example_adds_up(tmp_path):
    for name in ("quickstart", "hybrid", "aws", "onprem", "multi-model"):
        est = estimate(ir(name), prices=no_cache(tmp_path))
        for s in ("min", "expected", "max"):
            pools = sum(p.total.get(s) for p in est.by_pool)
            models = sum(m.monthly.get(s) for m in est.by_model)
            fees = sum(c.control_plane + c.system for c in est.by_cluster)
            assert est.monthly.get(s) == pytest.approx(pools + fees)
            assert models + est.unallocated.get(s) == pytest.approx(pools)
        assert est.monthly.min <= est.monthly.expected <= est.monthly.max
        assert not math.isnan(est.monthly.max)
