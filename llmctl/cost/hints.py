"""Cheaper instance types: for each aws pool, a catalog instance type in the same region that
fits every model placed there (same GPUs per replica) for less at the expected replicas.

A candidate fits a model when SPEC rules 5 and 6 hold with the model's own architecture and
engine settings (llmctl.sizing.fit), a replica stays on one node when it does today, and fp8
weights land on a GPU with fp8 support. Cost is compared the way the estimate prices the pool:
spot-first pools on spot prices where both types have one, otherwise on-demand, each node with
its disk, at the expected replicas (at the max when the expected replicas are none).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmctl import catalog, sizing
from llmctl.catalog import HOURS_PER_MONTH, InstanceType
from llmctl.cost.estimate import (
    GP3_USD_PER_GB_MONTH,
    default_cache,
    expected_replicas,
    placed_on,
    pool_price,
)
from llmctl.cost.prices import PriceCache
from llmctl.ir import Deployment, ModelIR, PoolIR

MIN_SAVING = 0.05  # below 5% a change of instance type is not worth a hint


@dataclass(frozen=True)
class Candidate:
    instance_type: InstanceType
    monthly_usd: float
    nodes: int


def model_fits(model: ModelIR, it: InstanceType) -> bool:
    """True when a replica of `model`, at its GPU count, fits on nodes of `it`."""
    gpu = catalog.find_gpu(it.gpu)
    if gpu is None or (model.engine.quantization == "fp8" and not gpu.fp8):
        return False
    if model.gpus > it.gpus and model.nodes_per_replica == 1:
        return False
    if sizing.gpu_count_problem(model.gpus, model.architecture.heads, it.gpus):
        return False
    a, e = model.architecture, model.engine
    shape = sizing.Shape(a.params_b, a.layers, a.heads, a.kv_heads, a.head_dim)
    settings = sizing.EngineSettings(
        e.dtype, e.quantization, e.kv_cache_dtype, e.gpu_memory_utilization, e.max_model_len
    )
    return sizing.fit(shape, settings, model.gpus, it.gpu_memory_gib).fits


def _hourly(
    od: float | None, spot: float | None, spot_first: bool, both_spot: bool
) -> float | None:
    return spot if spot_first and both_spot and spot is not None else od


def _candidate(
    pool: PoolIR,
    it: InstanceType,
    region: str,
    replica_gpus: list[tuple[int, int]],
    cache: PriceCache | None,
    spot_first: bool,
    both_spot: bool,
) -> Candidate | None:
    stand_in = pool.model_copy(
        update={
            "instance_type": it.name,
            "gpus_per_node": it.gpus,
            "node_hour_usd": it.price_usd_hour.get(region),
            "spot_node_hour_usd": it.spot_usd_hour.get(region),
        }
    )
    price = pool_price(stand_in, region, cache)
    hourly = _hourly(price.on_demand, price.spot, spot_first, both_spot)
    if hourly is None:
        return None
    nodes = max(1, sizing.nodes_needed(replica_gpus, it.gpus))
    monthly = nodes * (hourly * HOURS_PER_MONTH + pool.disk_gb * GP3_USD_PER_GB_MONTH)
    return Candidate(it, monthly, nodes)


def pool_hint(deployment: Deployment, pool: PoolIR, cache: PriceCache | None) -> str | None:
    """The hint for one aws pool, or None when nothing cheaper fits."""
    region = deployment.cluster(pool.cluster).region
    current = catalog.instance_types().get(pool.instance_type or "")
    on_pool = placed_on(deployment, pool.key)
    if region is None or current is None or not on_pool:
        return None
    gpus, at = [(m.gpus, expected_replicas(m, p)) for m, p in on_pool], "expected"
    if not any(n for _, n in gpus):
        gpus, at = [(m.gpus, p.max_replicas) for m, p in on_pool], "max"
    if not any(n for _, n in gpus):
        return None
    spot_first = pool.capacity[:1] == ("spot",)
    cur_price = pool_price(pool, region, cache)
    models = list(dict.fromkeys(m.name for m, _ in on_pool))
    best: tuple[Candidate, Candidate] | None = None  # (candidate, the current type likewise)
    for it in catalog.instance_types().values():
        if it.name == current.name or not all(model_fits(m, it) for m, _ in on_pool):
            continue
        both_spot = cur_price.spot is not None and it.spot_usd_hour.get(region) is not None
        here = _candidate(pool, current, region, gpus, cache, spot_first, both_spot)
        there = _candidate(pool, it, region, gpus, cache, spot_first, both_spot)
        if here is None or there is None or there.monthly_usd > here.monthly_usd * (1 - MIN_SAVING):
            continue
        if best is None or (there.monthly_usd, it.name) < (
            best[0].monthly_usd,
            best[0].instance_type.name,
        ):
            best = (there, here)
    if best is None:
        return None
    cheaper, baseline = best
    it = cheaper.instance_type
    saved = 100 * (1 - cheaper.monthly_usd / baseline.monthly_usd)
    hint = (
        f"{pool.key}: {it.name} ({it.gpus} x {it.gpu}) also fits {', '.join(models)}: "
        f"{cheaper.monthly_usd:,.0f} USD/month at the {at} replicas instead of "
        f"{baseline.monthly_usd:,.0f} on {current.name} ({saved:.0f}% less)"
    )
    slower, faster = catalog.find_gpu(it.gpu), catalog.find_gpu(current.gpu)
    if slower and faster and slower.bandwidth_gbps < faster.bandwidth_gbps:
        hint += (
            f"; {it.gpu} has {slower.bandwidth_gbps:,.0f} GB/s of memory bandwidth against "
            f"{faster.bandwidth_gbps:,.0f}, so fewer tokens/s per replica"
        )
    return hint


def cheaper_fit_hints(deployment: Deployment, prices: PriceCache | None = None) -> list[str]:
    """One hint per aws pool that a cheaper instance type could serve, in spec order."""
    cache = prices if prices is not None else default_cache()
    hints = []
    for cluster in deployment.clusters:
        for pool in cluster.pools:
            if pool.provider == "aws":
                hint = pool_hint(deployment, pool, cache)
                if hint:
                    hints.append(hint)
    return hints
