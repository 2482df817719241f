"""Monthly cost of a deployment: min, expected and max, per cluster, pool and model.

Months are 730 hours (AWS's convention). Each pool is priced in three scenarios:

- min: every pool at the fewest nodes it can run: its `min_nodes`, or more when the placements'
  minimum replicas need more nodes (a pool cannot shrink below what its fixed replicas occupy).
  On-prem pools always count all their `nodes`: they are paid for whether busy or not.
- expected: the larger of `min_nodes` and the nodes the expected replicas need (first-fit
  packing, as the scheduler does), at most `max_nodes`. Expected replicas per placement: a
  `traffic: failover` placement sits at its min (it only serves when the primary fails); a
  `traffic: overflow` placement follows its policy: its min at rest (it starts only when the
  active placements are full, and KEDA takes it back to its min after 10 quiet minutes), plus,
  for its `overflow_hours_per_month` (default 0), the nodes its max replicas add at the pool's
  expected price (`OverflowCost`, which the plan prints with its derivation); a range of
  replicas that autoscales counts the midpoint of min and max, rounded up; anything else its
  min.
- max: every pool at `max_nodes` (SPEC rule 8 compares this one with the budget).

Prices: an aws pool's node price comes from the price cache (`llmctl cost --refresh-prices`)
when it holds a fresh entry, else from the IR (the bundled catalog). A pool whose capacity
starts with spot is priced at the spot price for min and expected where one is known, and at
the on-demand price for max: spot can be reclaimed, and the on-demand fallback is the ceiling.
On-prem pools cost their `gpu_hour_usd` x GPUs per node. AWS adds the EKS control-plane fee of
each cluster llmctl creates ($0.10/h) and each node's gp3 root disk ($0.08 per GB-month).

A model's cost is its share of each pool it runs on: the GPUs its replicas occupy over the
pool's GPUs, times the pool's cost; what no model occupies is reported as unallocated. A
multi-node replica (a LeaderWorkerSet group) occupies all of its nodes, so its cost is whole
nodes: node packing counts it as `nodes_per_replica` nodes, and a canary group's surge too.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

from llmctl import catalog
from llmctl.catalog import HOURS_PER_MONTH
from llmctl.cost.breakdown import (
    SCENARIOS,
    BudgetCheck,
    BudgetStatus,
    ClusterCost,
    CostEstimate,
    ModelCost,
    ModelShare,
    Monthly,
    OverflowCost,
    PoolCost,
    PoolPrice,
    Scenario,
    usd,
)
from llmctl.cost.prices import PriceCache
from llmctl.errors import LlmctlError
from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR, PoolIR
from llmctl.sizing import nodes_needed

__all__ = [
    "SCENARIOS",
    "BudgetCheck",
    "BudgetStatus",
    "ClusterCost",
    "CostEstimate",
    "ModelCost",
    "ModelShare",
    "Monthly",
    "PoolCost",
    "PoolPrice",
    "Scenario",
    "check_budget",
    "check_rollout_budget",
    "estimate",
    "expected_replicas",
    "rollout_surge_cost",
    "usd",
]
EKS_CONTROL_PLANE_USD_HOUR = 0.10
# A created cluster also runs what stacks/aws_cluster.py adds beside the GPU pools: a system node
# group (2 x m6i.large on-demand, stacks.aws_cluster.SYSTEM_NODES) and one NAT gateway (hourly
# fee; data processing is not estimated). Prices: AWS list prices, same date as the catalog.
SYSTEM_NODES = 2
SYSTEM_NODE_USD_HOUR = {"us-east-1": 0.096, "us-west-2": 0.096, "eu-west-1": 0.107}
NAT_GATEWAY_USD_HOUR = {"us-east-1": 0.045, "us-west-2": 0.045, "eu-west-1": 0.048}
GP3_USD_PER_GB_MONTH = 0.08


# --- replicas and nodes ------------------------------------------------------------------------


def expected_replicas(model: ModelIR, placement: PlacementIR) -> int:
    """Replicas of a placement in the expected scenario (the rule in the module docstring)."""
    low, high = placement.min_replicas, placement.max_replicas
    if placement.traffic in ("failover", "overflow") or high == low:
        return low  # overflow: at rest; its hours at max are OverflowCost's
    if model.autoscaling is not None:
        return math.ceil((low + high) / 2)
    return low


def replicas(model: ModelIR, placement: PlacementIR, scenario: Scenario) -> int:
    """Replicas of a placement in `scenario`."""
    if scenario == "min":
        return placement.min_replicas
    if scenario == "max":
        return placement.max_replicas
    return expected_replicas(model, placement)


def placed_on(deployment: Deployment, pool_key: str) -> list[tuple[ModelIR, PlacementIR]]:
    """Every (model, placement) on one pool, in spec order."""
    return [(m, p) for m in deployment.models for p in m.placements if p.pool == pool_key]


def pool_nodes(deployment: Deployment, pool: PoolIR, scenario: Scenario) -> int:
    """Nodes of `pool` in `scenario`."""
    if scenario == "max" or pool.provider == "kubernetes":
        return pool.max_nodes
    gpus = [(m.gpus, replicas(m, p, scenario)) for m, p in placed_on(deployment, pool.key)]
    return min(pool.max_nodes, max(pool.min_nodes, nodes_needed(gpus, pool.gpus_per_node)))


# --- prices ------------------------------------------------------------------------------------

PriceOverrides = dict[tuple[str, str], tuple[float | None, float | None]]


def catalog_date() -> str:
    """The date of the bundled instance prices."""
    return catalog.provenance()["instances"]["date"]


def pool_price(
    pool: PoolIR,
    region: str | None,
    cache: PriceCache | None,
    overrides: PriceOverrides | None = None,
    notes: list[str] | None = None,
) -> PoolPrice:
    """A node's hourly price: fresh cache entry, else `overrides`, else the IR's catalog price."""
    if pool.provider != "aws" or pool.instance_type is None or region is None:
        return PoolPrice(pool.node_hour_usd, None, "gpu_hour_usd", None)
    it = pool.instance_type
    quote = cache.get(it, region) if cache is not None else None
    if quote is not None and not quote.stale and quote.on_demand_usd_hour is not None:
        spot = quote.spot_usd_hour if quote.spot_usd_hour is not None else pool.spot_node_hour_usd
        return PoolPrice(quote.on_demand_usd_hour, spot, "cache", quote.as_of)
    if quote is not None and quote.stale and notes is not None:
        notes.append(
            f"the cached price of {it} in {region} ({quote.as_of}) is stale; "
            "using the bundled catalog (llmctl cost --refresh-prices)"
        )
    on_demand, spot = (overrides or {}).get(
        (it, region), (pool.node_hour_usd, pool.spot_node_hour_usd)
    )
    return PoolPrice(on_demand, spot, "catalog", catalog_date())


def _region(deployment: Deployment, pool: PoolIR) -> str | None:
    return deployment.cluster(pool.cluster).region


def default_cache(notes: list[str] | None = None) -> PriceCache | None:
    """The price cache under $LLMCTL_HOME; an unreadable one is skipped with a note."""
    try:
        return PriceCache.load()
    except LlmctlError as exc:
        if notes is not None:
            notes.append(f"price cache ignored: {exc.message}")
        return None


# --- the estimate ------------------------------------------------------------------------------


def _pool_cost(
    deployment: Deployment, pool: PoolIR, price: PoolPrice, notes: list[str]
) -> tuple[PoolCost, list[OverflowCost]]:
    nodes = {s: pool_nodes(deployment, pool, s) for s in SCENARIOS}
    if price.on_demand is None:
        notes.append(
            f"{pool.key} has no price"
            + (" (set gpu_hour_usd in llm.yaml)" if pool.provider == "kubernetes" else "")
            + "; counted as 0"
        )
    on_demand = price.on_demand or 0.0
    basis: Literal["spot", "on-demand", "gpu_hour_usd"] = (
        "gpu_hour_usd" if pool.provider == "kubernetes" else "on-demand"
    )
    below_max = on_demand
    if pool.provider == "aws" and pool.capacity[:1] == ("spot",) and price.spot is not None:
        basis, below_max = "spot", price.spot

    def hourly(s: Scenario) -> float:
        return on_demand if s == "max" else below_max

    disk_gb_month = pool.disk_gb * GP3_USD_PER_GB_MONTH if pool.provider == "aws" else 0.0
    bursts = overflow_costs(deployment, pool, below_max + disk_gb_month / HOURS_PER_MONTH)
    burst = sum(b.expected for b in bursts)
    compute = Monthly.of(
        lambda s: nodes[s] * hourly(s) * HOURS_PER_MONTH + (burst if s == "expected" else 0.0)
    )
    disk = Monthly.of(lambda s: nodes[s] * disk_gb_month)
    on_demand_expected = None
    if basis == "spot":
        od_hour = on_demand + disk_gb_month / HOURS_PER_MONTH
        on_demand_expected = nodes["expected"] * (on_demand * HOURS_PER_MONTH + disk_gb_month)
        on_demand_expected += sum(b.extra_nodes * od_hour * b.hours for b in bursts)
    return PoolCost(pool, price, basis, nodes, compute, disk, on_demand_expected), bursts


def overflow_costs(deployment: Deployment, pool: PoolIR, node_hour: float) -> list[OverflowCost]:
    """Each overflow placement on `pool`: what an hour at its max adds to the pool at rest (only
    an aws pool grows; on-prem nodes are paid for in every scenario)."""
    out = []
    on_pool = placed_on(deployment, pool.key)
    at_rest = pool_nodes(deployment, pool, "expected")
    for m, p in on_pool:
        if p.traffic != "overflow" or p.max_replicas == p.min_replicas:
            continue
        extra = 0
        if pool.provider == "aws":
            gpus = [
                (o.gpus, p.max_replicas if (o, q) == (m, p) else expected_replicas(o, q))
                for o, q in on_pool
            ]
            burst = min(pool.max_nodes, max(pool.min_nodes, nodes_needed(gpus, pool.gpus_per_node)))
            extra = burst - at_rest
        out.append(
            OverflowCost(
                m.name,
                pool.key,
                p.min_replicas,
                p.max_replicas,
                extra,
                extra * node_hour,
                p.overflow_hours_per_month,
            )
        )
    return out


def _model_costs(
    deployment: Deployment, pools: dict[str, PoolCost], bursts: list[OverflowCost]
) -> tuple[ModelCost, ...]:
    out = []
    for m in deployment.models:
        shares = []
        for p in m.placements:
            pc = pools[p.pool]
            reps = {s: replicas(m, p, s) for s in SCENARIOS}
            gpus = {s: reps[s] * m.gpus for s in SCENARIOS}
            pool_burst = sum(b.expected for b in bursts if b.pool == p.pool)
            own_burst = sum(b.expected for b in bursts if (b.pool, b.model) == (p.pool, m.name))

            def share(
                s: Scenario,
                pc: PoolCost = pc,
                gpus: dict[Scenario, int] = gpus,
                pool_burst: float = pool_burst,
                own_burst: float = own_burst,
            ) -> float:
                pool_gpus = pc.nodes[s] * pc.pool.gpus_per_node
                if s != "expected":
                    pool_burst = own_burst = 0.0
                at_rest = pc.total.get(s) - pool_burst  # the bursts belong to their own models
                return (at_rest * min(1.0, gpus[s] / pool_gpus) if pool_gpus else 0.0) + own_burst

            shares.append(ModelShare(p.pool, reps, gpus, Monthly.of(share)))
        out.append(ModelCost(m.name, tuple(shares), m.gpus, m.nodes_per_replica))
    return tuple(out)


def _estimate(
    deployment: Deployment, cache: PriceCache | None, overrides: PriceOverrides, notes: list[str]
) -> CostEstimate:
    pools: dict[str, PoolCost] = {}
    bursts: list[OverflowCost] = []
    clusters = []
    for c in deployment.clusters:
        for pool in c.pools:
            price = pool_price(pool, c.region, cache, overrides, notes)
            pools[pool.key], pool_bursts = _pool_cost(deployment, pool, price, notes)
            bursts += pool_bursts
        fee = (
            EKS_CONTROL_PLANE_USD_HOUR * HOURS_PER_MONTH
            if c.provider == "aws" and c.create
            else 0.0
        )
        pool_total = sum((pools[p.key].total for p in c.pools), Monthly())
        clusters.append(ClusterCost(c, fee, pool_total, system_cost(c)))
    return CostEstimate(
        deployment.name,
        tuple(pools.values()),
        _model_costs(deployment, pools, bursts),
        tuple(clusters),
        _price_summary(pools.values()),
        tuple(dict.fromkeys(notes)),
        overflow=tuple(bursts),
    )


def system_cost(cluster: ClusterIR) -> float:
    """USD / month of a created EKS cluster's system nodes and NAT gateway (0 otherwise)."""
    if cluster.provider != "aws" or not cluster.create:
        return 0.0
    region = cluster.region or "us-east-1"
    node = SYSTEM_NODE_USD_HOUR.get(region, SYSTEM_NODE_USD_HOUR["us-east-1"])
    nat = NAT_GATEWAY_USD_HOUR.get(region, NAT_GATEWAY_USD_HOUR["us-east-1"])
    return (SYSTEM_NODES * node + nat) * HOURS_PER_MONTH


def _price_summary(pools: Any) -> dict[str, str | None]:
    used = {(p.price.source, p.price.date) for p in pools if p.pool.provider == "aws"}
    if not used:
        return {"source": "gpu_hour_usd", "date": None}
    sources = sorted({s for s, _ in used}, key=("cache", "catalog").index)
    dates = [d for _, d in used if d]
    return {"source": "+".join(sources), "date": min(dates) if dates else None}


def estimate(
    deployment: Deployment, current: Deployment | None = None, prices: PriceCache | None = None
) -> CostEstimate:
    """The monthly cost of `deployment`, its delta against `current` (the applied revision's IR),
    and its budget check. `prices` None: the price cache under $LLMCTL_HOME, if any."""
    notes: list[str] = []
    cache = prices if prices is not None else default_cache(notes)
    result = _estimate(deployment, cache, {}, notes)
    if current is not None:
        # Price the current revision with today's prices, so the delta is the change of the
        # deployment and not a change of the catalog between two llmctl versions.
        overrides: PriceOverrides = {
            (p.instance_type, region): (p.node_hour_usd, p.spot_node_hour_usd)
            for c in deployment.clusters
            if (region := c.region)
            for p in c.pools
            if p.instance_type
        }
        result = replace(result, current=_estimate(current, cache, overrides, []).monthly)
    return replace(result, budget=check_budget(deployment, result))


# --- budgets -----------------------------------------------------------------------------------


def _budget_result(deployment: Deployment, cost: float, what: str, hint: str) -> BudgetCheck:
    budget = deployment.budget
    if budget is None:
        return BudgetCheck("none", "no budget set", compared_usd=cost)
    limit = budget.monthly_usd
    if round(cost, 2) <= round(limit, 2):
        pct = 100 * cost / limit if limit else 0.0
        return BudgetCheck(
            "ok",
            f"{what} {usd(cost)} is within the budget of {usd(limit)} ({pct:.0f}%)",
            "",
            limit,
            budget.on_exceed,
            cost,
        )
    message = (
        f"{what} {usd(cost)} exceeds the budget of {usd(limit)} by {usd(cost - limit)} "
        f"(on_exceed: {budget.on_exceed})"
    )
    return BudgetCheck(budget.on_exceed, message, hint, limit, budget.on_exceed, cost)


def check_budget(deployment: Deployment, estimate: CostEstimate) -> BudgetCheck:
    """SPEC rule 8: the max monthly cost (every pool at max) against the budget."""
    biggest = sorted(estimate.by_pool, key=lambda p: -p.total.max)[:3]
    where = ", ".join(f"{p.pool.key} {usd(p.total.max)}" for p in biggest if p.total.max > 0)
    # The lever differs: an AWS pool's ceiling is max_nodes, an on-prem pool's is nodes.
    levers = [
        f"lower {field} of {', '.join(keys)}"
        for field, keys in (
            ("max_nodes", [p.pool.key for p in biggest if p.pool.provider == "aws"]),
            ("nodes", [p.pool.key for p in biggest if p.pool.provider != "aws"]),
        )
        if keys
    ]
    hint = (f"largest at max: {where}; " if where else "") + ", ".join(
        [*levers, "raise budget.monthly_usd, or set budget.on_exceed: warn"]
    )
    return _budget_result(deployment, estimate.monthly.max, "max monthly cost", hint)


def _model(deployment: Deployment, model: ModelIR | str) -> ModelIR:
    if isinstance(model, ModelIR):
        return model
    found = next((m for m in deployment.models if m.name == model), None)
    if found is None:
        raise LlmctlError(
            f"no model '{model}' in {deployment.name}",
            hint=f"models: {', '.join(m.name for m in deployment.models)}",
        )
    return found


def rollout_surge_cost(
    deployment: Deployment, model: ModelIR | str, prices: PriceCache | None = None
) -> float:
    """Extra USD / month while a canary (or blue-green copy) of `model` runs beside its stable
    replicas: the GPUs of the extra replicas at the on-demand price (spot may be reclaimed). On-prem
    pools add nothing: their nodes are paid for in every scenario."""
    m = _model(deployment, model)
    cache = prices if prices is not None else default_cache()
    total = 0.0
    for p in m.placements:
        pool = deployment.pool(p.pool)
        extra = p.rollout_surge
        if not extra or pool.provider != "aws":
            continue
        price = pool_price(pool, _region(deployment, pool), cache).on_demand or 0.0
        node_month = price * HOURS_PER_MONTH + pool.disk_gb * GP3_USD_PER_GB_MONTH
        total += extra * m.gpus / pool.gpus_per_node * node_month
    return round(total, 2)


def check_rollout_budget(
    deployment: Deployment,
    model: ModelIR | str,
    estimate: CostEstimate,
    prices: PriceCache | None = None,
) -> BudgetCheck:
    """The budget during a rollout: the expected monthly cost plus the canary's surge."""
    surge = rollout_surge_cost(deployment, model, prices)
    name = _model(deployment, model).name
    hint = "roll out with `strategy: rolling` (no extra replicas), or raise budget.monthly_usd"
    return _budget_result(
        deployment,
        estimate.monthly.expected + surge,
        f"expected monthly cost with the rollout of {name} (+{usd(surge)})",
        hint,
    )
