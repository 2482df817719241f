"""Room on a pool: the one home of the rollout-surge rule.

How many replicas a rollout runs beside the stable ones, and how many more fit a pool, is asked
by compile (to record `PlacementIR.rollout_surge` and `update_surge`, and to warn when a canary
has no room), by cost (to price the surge) and by the rollout driver (to run it and to refuse a
rollout without room). All of them ask here, so they cannot disagree.

Pool room is counted as SPEC rule 7 counts it: every replica on the pool at its largest
(`max_replicas`), packed first-fit onto nodes (`llmctl.sizing.nodes_needed`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from llmctl.ir import ModelIR, PlacementIR, PoolIR, RolloutIR
from llmctl.sizing import nodes_needed

Load = list[tuple[int, int]]  # (GPUs per replica, replicas)


def serving(placement: PlacementIR) -> bool:
    """Whether the placement takes traffic now: only those get a canary or a new set."""
    return placement.traffic == "active" and placement.max_replicas > 0


def canary_replicas(replicas: int, weight: int) -> int:
    """Canary replicas beside `replicas` stable ones at `weight` percent: max(1, ceil(R x w/100))."""
    return max(1, math.ceil(replicas * weight / 100))


def rollout_surge(rollout: RolloutIR, placement: PlacementIR) -> int:
    """The most replicas a rollout by `rollout` runs beside `placement`'s stable ones at once.

    Canary: the canary at its largest step below 100%; a 100% step is the promotion, a rolling
    update of the stable set into free room (nothing reserved), so `steps: [100]` adds none.
    Blue-green: a whole new set. Rolling: none (surge bounded by the free GPUs)."""
    if not serving(placement):
        return 0
    if rollout.strategy == "blue-green":
        return placement.max_replicas
    partial = [s for s in rollout.steps if s < 100]
    if rollout.strategy == "rolling" or not partial:
        return 0
    return canary_replicas(placement.max_replicas, max(partial))


def pool_load(models: Iterable[ModelIR], pool_key: str) -> Load:
    """(GPUs per replica, replicas) of every placement on the pool at its largest."""
    return [(m.gpus, p.max_replicas) for m in models for p in m.placements if p.pool == pool_key]


def more_fit(pool: PoolIR, used: Load, gpus: int, limit: int) -> int:
    """How many more replicas of `gpus` GPUs (at most `limit`) fit on `pool` beside `used`."""
    more = 0
    while more < limit and nodes_needed([*used, (gpus, more + 1)], pool.gpus_per_node) <= (
        pool.max_nodes
    ):
        more += 1
    return more


def fits(pool: PoolIR, used: Load) -> bool:
    """Whether `used` fits on `pool`'s nodes at its largest."""
    return nodes_needed(used, pool.gpus_per_node) <= pool.max_nodes
