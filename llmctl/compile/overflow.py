"""Overflow and failover at the gateway, across clusters: which cluster's gateway spills which
routes to which other cluster's gateway, and how much room each replica behind such a route has.

A cluster C spills route R to cluster X when C has an `active` placement of one of R's models and
either X serves R's models only as `overflow`/`failover` placements (the burst and standby
capacity of a hybrid deployment), or one of R's `fallback` models is placed on X and not on C
(a cross-cluster fallback). C's gateway then keeps its own replicas as the route's first priority
and X's gateway (its DNS name `<X>.<hostname>`, which the -dns stack creates) as the second; a
replica of C drops out of the first while it is full (its /llmctl/room answers 503) or failing,
and Envoy moves that share of the traffic to X (render/failover.py says how).

Room: a replica is full from `max_num_seqs + W` requests in flight, or W requests waiting in
vLLM's queue, W being the model's `autoscaling.target` when it scales on requests_waiting, else
OVERFLOW_QUEUE_PER_REPLICA (the same threshold KEDA starts an overflow replica on).
"""

from __future__ import annotations

import math

from llmctl.compile.findings import Findings
from llmctl.ir import EngineIR, GatewayIR, ModelIR, PeerIR, RouteIR
from llmctl.spec.model import Spec

# Waiting requests per replica before it counts as full, when the model does not autoscale on
# requests_waiting; also KEDA's threshold for starting an overflow replica.
OVERFLOW_QUEUE_PER_REPLICA = 5


def room_waiting(model: ModelIR) -> int:
    """W: waiting requests at which a replica of `model` is full."""
    a = model.autoscaling
    if a is not None and a.metric == "requests_waiting":
        return max(1, math.ceil(a.target))
    return OVERFLOW_QUEUE_PER_REPLICA


def room_in_flight(model: ModelIR) -> int:
    """Requests in flight at which a replica of `model` is full: a full batch plus W waiting."""
    return model.engine.max_num_seqs + room_waiting(model)


def _placed(models: list[ModelIR]) -> dict[str, dict[str, list[str]]]:
    """{model: {cluster: [traffic roles of its placements there]}}."""
    out: dict[str, dict[str, list[str]]] = {}
    for m in models:
        for p in m.placements:
            out.setdefault(m.name, {}).setdefault(p.cluster, []).append(p.traffic)
    return out


def with_gateway_peers(
    f: Findings, spec: Spec, gateway: GatewayIR, models: list[ModelIR]
) -> tuple[GatewayIR, list[ModelIR]]:
    """The gateway with its peers, and the models with the room of the replicas behind them."""
    placed = _placed(models)
    by_name = {m.name: m for m in models}
    clusters = [c.name for c in spec.clusters]
    edges: dict[tuple[str, str], list[str]] = {}  # (cluster, peer) -> route names
    hosts: set[str] = set()  # models whose replicas sit behind a spilling route
    for route in gateway.routes:
        backends = [b for b, _ in route.backends if b in placed]
        fallbacks = [fb for fb in route.fallback if fb in placed]
        for c in clusters:
            if not any("active" in placed[b].get(c, []) for b in backends):
                continue
            peers = [
                x
                for x in clusters
                if x != c
                and any(placed[b].get(x) for b in backends)
                and not any("active" in placed[b].get(x, []) for b in backends)
            ]
            for fb in fallbacks:
                if c not in placed[fb]:
                    peers += [x for x in placed[fb] if x != c and x not in peers]
            for x in peers:
                if route.name in edges.get((x, c), []):
                    continue  # never back to where the route spills from: no request loops
                edges.setdefault((c, x), []).append(route.name)
            if peers:  # both ends health-check the replicas behind the route (render/gateway.py)
                hosts.update(
                    m for m in [*backends, *fallbacks] for x in [c, *peers] if x in placed[m]
                )
    if not edges:
        return gateway, models
    if not (gateway.hostname and gateway.dns_zone):
        pairs = ", ".join(f"{c} -> {x}" for c, x in edges)
        f.warn(
            ("gateway",),
            f"overflow between clusters ({pairs}) is not routed by the gateways: a gateway "
            "reaches another cluster's gateway by the name <cluster>.<hostname>, which needs "
            "gateway.hostname and gateway.dns_zone",
            "set gateway.hostname and gateway.dns_zone; until then overflow placements take "
            "only the traffic DNS or clients send to their cluster",
        )
        return gateway, models
    out = []
    for m in models:
        if m.name in hosts:
            engine: EngineIR = m.engine.model_copy(
                update={
                    "room_max_in_flight": room_in_flight(m),
                    "room_max_waiting": room_waiting(m),
                }
            )
            m = _with_flags(m.model_copy(update={"engine": engine}))
        out.append(m)
    links: list[PeerIR] = []
    for (c, x), names in edges.items():
        in_route = {n for r in gateway.routes if r.name in names for n in _models_of(r)}
        capacity = sum(
            p.max_replicas * room_in_flight(by_name[n])
            for n in sorted(in_route)
            for p in by_name[n].placements
            if p.cluster == x
        )
        links.append(
            PeerIR(
                cluster=c,
                peer=x,
                address=f"{x}.{gateway.hostname}",
                routes=tuple(names),
                max_in_flight=capacity,
            )
        )
    return gateway.model_copy(update={"peers": tuple(links)}), out


def _models_of(route: RouteIR) -> list[str]:
    return [b for b, _ in route.backends] + list(route.fallback)


def _with_flags(model: ModelIR) -> ModelIR:
    """`model` with its vLLM argv rebuilt (the room adds the middleware that answers /llmctl/room)."""
    from llmctl.serving.config import serving_config
    from llmctl.serving.flags import build_serve_args

    flags = tuple(build_serve_args(serving_config(model)))
    return model.model_copy(update={"engine": model.engine.model_copy(update={"flags": flags})})
