"""Checks over the whole deployment: pool capacity and canary room (SPEC rule 7), the gateway's
routes and references (rule 3), and the warnings of rule 10."""

from __future__ import annotations

import re

from llmctl import sizing
from llmctl.compile.findings import Findings, check_unique
from llmctl.ir import (
    GatewayIR,
    ModelIR,
    PoolIR,
    RouteIR,
)
from llmctl.spec.model import Spec
from llmctl.spec.source import Path_

_PINNED = re.compile(r"^[0-9a-f]{40}$")


def check_capacity(
    f: Findings, spec: Spec, models: list[ModelIR], pools: dict[str, PoolIR]
) -> None:
    """SPEC rule 7: the most replicas placed on each pool fit its nodes; canaries need room too."""
    index = {m.name: i for i, m in enumerate(spec.models)}
    for key, pool in pools.items():
        on_pool = [(m, p) for m in models for p in m.placements if p.pool == key]
        replicas = [(m.gpus, p.max_replicas) for m, p in on_pool]
        need = sizing.nodes_needed(replicas, pool.gpus_per_node)
        if need > pool.max_nodes:
            m0 = on_pool[0][0]
            pi = next(i for i, p in enumerate(m0.placements) if p.pool == key)
            what = ", ".join(f"{m.name} {p.max_replicas} x {m.gpus} GPU" for m, p in on_pool)
            limit = "nodes" if pool.provider == "kubernetes" else "max_nodes"
            f.error(
                ("models", index[m0.name], "placements", pi, "replicas"),
                f"pool {key} is too small: {what} need {need} nodes of {pool.gpus_per_node} GPUs, "
                f"the pool has {pool.max_nodes}",
                f"raise the pool's {limit} to {need}, or place fewer replicas",
            )
            continue
        extra = [(m.gpus, p.rollout_surge) for m, p in on_pool]
        extra_count = sum(n for _, n in extra)
        if (
            extra_count
            and sizing.nodes_needed(replicas + extra, pool.gpus_per_node) > pool.max_nodes
        ):
            names = ", ".join(sorted({m.name for m, p in on_pool if p.rollout_surge}))
            m0 = on_pool[0][0]
            f.warn(
                ("models", index[m0.name], "rollout"),
                f"pool {key} has no room for the canary replicas of {names} ({extra_count} extra)",
                "raise the pool's size by the canary's replicas, or use `strategy: rolling`",
            )


def gateway_ir(f: Findings, spec: Spec) -> GatewayIR:
    g = spec.gateway
    names = {m.name for m in spec.models}
    if g.routes is None:
        routes = tuple(
            RouteIR(name=m.served_name or m.name, backends=((m.name, 100),), key=m.name)
            for m in spec.models
        )
        served = [m.served_name or m.name for m in spec.models]
        for i, name in enumerate(served):
            if name in served[:i]:
                f.error(
                    ("models", i, "served_name" if spec.models[i].served_name else "name"),
                    f"two models are served as '{name}'",
                    "give each model its own served_name: clients pick a model by it",
                )
    else:
        check_unique(f, [r.name for r in g.routes], ("gateway", "routes"), "route")
        for ri, r in enumerate(g.routes):
            for bi, b in enumerate(r.backends):
                if b.model not in names:
                    f.error(
                        ("gateway", "routes", ri, "backends", bi, "model"),
                        f"route backend '{b.model}' is not a model",
                        f"models: {', '.join(sorted(names))}",
                    )
            for fi, fb in enumerate(r.fallback):
                if fb not in names:
                    f.error(
                        ("gateway", "routes", ri, "fallback", fi),
                        f"route fallback '{fb}' is not a model",
                        f"models: {', '.join(sorted(names))}",
                    )
            if sum(b.weight for b in r.backends) == 0:
                f.error(
                    ("gateway", "routes", ri, "backends"),
                    f"route '{r.name}' has only weight-0 backends",
                )
        routes = tuple(
            RouteIR(
                name=r.name,
                key=r.name,
                backends=tuple((b.model, b.weight) for b in r.backends),
                fallback=tuple(r.fallback),
            )
            for r in g.routes
        )
    if g.dns_zone and not g.hostname:
        f.error(
            ("gateway", "dns_zone"),
            "dns_zone needs gateway.hostname",
            "e.g. hostname: llm.example.com",
        )
    elif (
        g.dns_zone
        and g.hostname
        and not (g.hostname == g.dns_zone or g.hostname.endswith("." + g.dns_zone))
    ):
        f.error(
            ("gateway", "hostname"), f"hostname {g.hostname} is not inside dns_zone {g.dns_zone}"
        )
    if g.dns_zone and not any(c.aws for c in spec.clusters):
        f.warn(
            ("gateway", "dns_zone"), "dns_zone uses Route 53: AWS credentials are needed at apply"
        )
    return GatewayIR(
        hostname=g.hostname,
        dns_zone=g.dns_zone,
        api_keys_secret_env=g.api_keys.secret_env if g.api_keys else None,
        requests_per_minute=g.rate_limit.requests_per_minute if g.rate_limit else None,
        routes=routes,
    )


def warn_deployment(
    f: Findings, spec: Spec, models: list[ModelIR], pools: dict[str, PoolIR]
) -> None:
    """SPEC rule 10: warnings that never stop a plan."""
    by_name = {m.name: m for m in models}
    for mi, m in enumerate(spec.models):
        path: Path_ = ("models", mi)
        if m.source.startswith("hf://") and not (m.revision and _PINNED.match(m.revision)):
            repo = m.source.removeprefix("hf://")
            f.warn(
                (*path, "revision") if m.revision else (*path, "source"),
                f"models[{mi}].revision is not pinned; a rollback could fetch other weights",
                f"pin `revision:` to a commit of {repo}",
            )
        ir = by_name.get(m.name)
        if ir is None:
            continue
        keys = [p.pool for p in ir.placements]
        if len(keys) == 1 and pools[keys[0]].capacity == ("spot",):
            f.warn(
                (*path, "placements"),
                f"model '{m.name}' runs only on spot pool {keys[0]}; a spot reclaim stops it",
                "add an on-demand fallback (capacity: [spot, on-demand]) or another placement",
            )
        active_min = sum(p.min_replicas for p in ir.placements if p.traffic != "failover")
        if active_min <= 1 and not any(p.traffic == "failover" for p in ir.placements):
            f.warn(
                (*path, "placements"),
                f"model '{m.name}' has a single replica and no failover",
                "use replicas: 2 or more, or add a `traffic: failover` placement",
            )
        for pi, p in enumerate(ir.placements):
            if p.min_replicas == 0 and p.traffic == "failover":
                f.warn(
                    (*path, "placements", pi, "replicas"),
                    f"failover placement {p.pool} of '{m.name}' starts no replica by itself",
                    "set replicas min: 1 for a warm standby that DNS failover can send traffic to",
                )
            # an overflow placement's scaler: compile/monitoring.py (per cluster)
        _warn_cold_starts(f, spec, ir, path)
        if m.rollout.strategy != "rolling" and spec.monitoring is None:
            f.warn(
                (*path, "rollout"),
                f"model '{m.name}' uses a {m.rollout.strategy} rollout but monitoring is not set",
                "set monitoring.prometheus_url so rollouts can be analysed",
            )
    g = spec.gateway
    if g.api_keys is None and not g.allow_unauthenticated and models:
        f.warn(
            ("gateway", "api_keys"),
            "the gateway serves every model without authentication: anyone who reaches the "
            f"endpoint{' ' + g.hostname if g.hostname else ''} can use them",
            "set gateway.api_keys: {secret_env: LLMCTL_API_KEYS}, or "
            "gateway.allow_unauthenticated: true if it is meant to be open",
        )


def _warn_cold_starts(f: Findings, spec: Spec, model: ModelIR, path: Path_) -> None:
    """Say which placements compile cold in every pod after the first (no shared cache)."""
    if model.engine.compile_cache_claim:
        return
    shared = {c.name for c in spec.clusters if c.compile_cache is not None}
    cold = [p for p in model.placements if p.pool.split("/")[0] not in shared]
    if sum(p.max_replicas for p in cold) <= 1:
        return
    f.warn(
        (*path, "engine"),
        f"model '{model.name}' keeps its compile caches in each pod on "
        f"{', '.join(sorted({p.pool for p in cold}))}: every pod after the first compiles cold "
        "(vLLM 0.26.0 on an H200: 175-200 s to ready, against 47-62 s on a shared cache)",
        "declare a ReadWriteMany storage class for llmctl's shared cache claim "
        "(clusters[].compile_cache: {storage_class: NAME}), or set engine.compile_cache: "
        "pvc://CLAIM",
    )
