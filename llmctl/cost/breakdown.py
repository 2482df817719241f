"""The result types of a cost estimate: monthly figures per scenario, pool, model and cluster,
and the budget check. Built by llmctl/cost/estimate.py; `to_json()` is the stable `--json` shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from llmctl.errors import BudgetExceeded
from llmctl.ir import ClusterIR, PoolIR

Scenario = Literal["min", "expected", "max"]
SCENARIOS: tuple[Scenario, ...] = ("min", "expected", "max")
BudgetStatus = Literal["ok", "warn", "block", "none"]


def usd(value: float) -> str:
    """Whole dollars with thousands separators, as every cost message shows them."""
    return f"{value:,.0f} USD"


@dataclass(frozen=True)
class Monthly:
    """USD per month in the three scenarios."""

    min: float = 0.0
    expected: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, fn: Callable[[Scenario], float]) -> Monthly:
        """A Monthly from a function of the scenario."""
        return cls(fn("min"), fn("expected"), fn("max"))

    def get(self, scenario: Scenario) -> float:
        """The figure of one scenario."""
        return float(getattr(self, scenario))

    def __add__(self, other: Monthly) -> Monthly:
        return Monthly(self.min + other.min, self.expected + other.expected, self.max + other.max)

    def to_json(self) -> dict[str, float]:
        """{"min","expected","max"}, rounded to cents."""
        return {s: round(self.get(s), 2) for s in SCENARIOS}


@dataclass(frozen=True)
class PoolPrice:
    """What one node of a pool costs per hour, and where that figure came from."""

    on_demand: float | None
    spot: float | None
    source: Literal["catalog", "cache", "gpu_hour_usd"]
    date: str | None


@dataclass(frozen=True)
class PoolCost:
    pool: PoolIR
    price: PoolPrice
    basis: Literal["spot", "on-demand", "gpu_hour_usd"]  # the price of min and expected
    nodes: dict[Scenario, int]
    compute: Monthly
    disk: Monthly
    on_demand_expected: float | None  # spot pools: the expected figure on on-demand nodes

    @property
    def total(self) -> Monthly:
        return self.compute + self.disk

    @property
    def spot_savings(self) -> float | None:
        """What spot saves a month at the expected size, against on-demand nodes."""
        if self.on_demand_expected is None:
            return None
        return self.on_demand_expected - self.total.expected

    def to_json(self) -> dict[str, Any]:
        p = self.pool
        savings = self.spot_savings
        return {
            "pool": p.key, "cluster": p.cluster, "provider": p.provider,
            "instance_type": p.instance_type, "gpu": p.gpu_model, "gpus_per_node": p.gpus_per_node,
            "capacity": list(p.capacity), "nodes": dict(self.nodes),
            "price": {"node_hour_usd": self.price.on_demand, "spot_node_hour_usd": self.price.spot,
                      "basis": self.basis, "source": self.price.source, "date": self.price.date},
            "monthly_usd": self.total.to_json(), "compute_usd": self.compute.to_json(),
            "disk_usd": self.disk.to_json(),
            "on_demand_expected_usd": None if self.on_demand_expected is None
            else round(self.on_demand_expected, 2),
            "spot_savings_usd": None if savings is None else round(savings, 2),
        }  # fmt: skip


@dataclass(frozen=True)
class ModelShare:
    """A model's part of one pool: its replicas, their GPUs, and that share of the pool's cost."""

    pool: str
    replicas: dict[Scenario, int]
    gpus: dict[Scenario, int]
    monthly: Monthly

    def to_json(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "replicas": dict(self.replicas),
            "gpus": dict(self.gpus),
            "monthly_usd": self.monthly.to_json(),
        }


@dataclass(frozen=True)
class ModelCost:
    name: str
    shares: tuple[ModelShare, ...]
    gpus_per_replica: int = 0
    nodes_per_replica: int = 1  # > 1: a multi-node replica, priced as all of its nodes

    @property
    def monthly(self) -> Monthly:
        return sum((s.monthly for s in self.shares), Monthly())

    def to_json(self) -> dict[str, Any]:
        gpus = {s: sum(sh.gpus[s] for sh in self.shares) for s in SCENARIOS}
        return {
            "model": self.name,
            "monthly_usd": self.monthly.to_json(),
            "gpus": gpus,
            "gpus_per_replica": self.gpus_per_replica,
            "nodes_per_replica": self.nodes_per_replica,
            "pools": [s.to_json() for s in self.shares],
        }


@dataclass(frozen=True)
class ClusterCost:
    cluster: ClusterIR
    control_plane: float  # USD / month, the same in every scenario
    pools: Monthly
    system: float = 0.0  # USD / month: the system node group and NAT gateway of a created cluster

    @property
    def total(self) -> Monthly:
        fixed = self.control_plane + self.system
        return self.pools + Monthly(fixed, fixed, fixed)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster.name,
            "provider": self.cluster.provider,
            "control_plane_usd": round(self.control_plane, 2),
            "system_usd": round(self.system, 2),
            "monthly_usd": self.total.to_json(),
        }


@dataclass(frozen=True)
class BudgetCheck:
    """SPEC rule 8: the max monthly cost against `budget.monthly_usd`."""

    status: BudgetStatus
    message: str
    hint: str = ""
    monthly_usd: float | None = None  # the budget
    on_exceed: str | None = None
    compared_usd: float = 0.0  # the cost compared with it

    def to_json(self) -> dict[str, Any] | None:
        """The `budget` object of `--json`; None when the spec has no budget."""
        if self.status == "none":
            return None
        return {
            "monthly_usd": self.monthly_usd,
            "on_exceed": self.on_exceed,
            "status": self.status,
            "compared_usd": round(self.compared_usd, 2),
            "message": self.message,
            "hint": self.hint,
        }

    def raise_if_blocked(self) -> None:
        """Raise BudgetExceeded (exit code 3) with the figures when the status is block."""
        if self.status == "block":
            raise BudgetExceeded(self.message, hint=self.hint)


@dataclass(frozen=True)
class OverflowCost:
    """An overflow placement's spend, as its policy makes it: at rest its min replicas (counted in
    the pool like any other), and for `hours` a month its max, each such hour costing `per_hour`
    (the nodes its extra replicas need, at the pool's expected price)."""

    model: str
    pool: str
    at_rest: int  # replicas
    at_max: int
    extra_nodes: int
    per_hour: float  # USD per hour at max, beyond the pool's nodes at rest
    hours: float  # a month, from the placement's overflow_hours_per_month

    @property
    def expected(self) -> float:
        """USD a month the expected scenario adds for the overflow hours."""
        return self.per_hour * self.hours

    def derivation(self) -> str:
        """How the expected figure was derived, in one line for the plan."""
        hours = f"{self.hours:g} h/month"
        return (
            f"{self.model} on {self.pool}: {self.at_rest} replicas at rest; an hour at its max "
            f"{self.at_max} (+{self.extra_nodes} nodes) costs {self.per_hour:,.2f} USD; expected "
            f"{hours} (overflow_hours_per_month) = {usd(self.expected)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pool": self.pool,
            "replicas_at_rest": self.at_rest,
            "replicas_at_max": self.at_max,
            "extra_nodes_at_max": self.extra_nodes,
            "usd_per_hour_at_max": round(self.per_hour, 2),
            "hours_per_month": self.hours,
            "expected_monthly_usd": round(self.expected, 2),
            "derivation": self.derivation(),
        }


@dataclass(frozen=True)
class CostEstimate:
    deployment: str
    by_pool: tuple[PoolCost, ...]
    by_model: tuple[ModelCost, ...]
    by_cluster: tuple[ClusterCost, ...]
    prices: dict[str, str | None]
    notes: tuple[str, ...] = ()
    current: Monthly | None = None  # the current revision's estimate, priced the same way
    budget: BudgetCheck | None = field(default=None)
    overflow: tuple[OverflowCost, ...] = ()  # how each overflow placement's expected was derived

    @property
    def monthly(self) -> Monthly:
        return sum((c.total for c in self.by_cluster), Monthly())

    @property
    def unallocated(self) -> Monthly:
        """Pool cost that no model's replicas occupy."""
        pools = sum((p.total for p in self.by_pool), Monthly())
        models = sum((m.monthly for m in self.by_model), Monthly())
        return Monthly.of(lambda s: max(0.0, pools.get(s) - models.get(s)))

    @property
    def delta_monthly_usd(self) -> float:
        """Expected monthly cost minus the current revision's (all of it when there is none)."""
        return self.monthly.expected - (self.current.expected if self.current else 0.0)

    def pool(self, key: str) -> PoolCost:
        """The cost of pool "cluster/pool"."""
        return next(p for p in self.by_pool if p.pool.key == key)

    def to_json(self) -> dict[str, Any]:
        """The stable `cost` object of `plan --json` and `cost --json`."""
        return {
            "monthly_usd": self.monthly.to_json(),
            "delta_monthly_usd": round(self.delta_monthly_usd, 2),
            "current_monthly_usd": self.current.to_json() if self.current else None,
            "by_model": [m.to_json() for m in self.by_model],
            "unallocated_monthly_usd": self.unallocated.to_json(),
            "by_pool": [p.to_json() for p in self.by_pool],
            "by_cluster": [c.to_json() for c in self.by_cluster],
            "budget": self.budget.to_json() if self.budget else None,
            "prices": dict(self.prices),
            "notes": list(self.notes),
            "overflow": [o.to_json() for o in self.overflow],
        }
