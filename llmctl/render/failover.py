"""Route fallback and cross-cluster spill: a route's Services behind Envoy Gateway Backend
objects, the fallback models' ones (and other clusters' gateways) marked `fallback: true`, and the
route's health checks, limits and retries (gateway.py says how the pieces fit; both build on
gateway_api.py, so neither imports the other back).

Spill to another cluster (Envoy Gateway v1.9). Envoy Gateway puts every endpoint of a route rule
into one Envoy cluster when all of the rule's backendRefs are Backends of one address type (FQDN
here) and carry no filters; a Backend with `fallback: true` becomes priority 1 there, the rest
priority 0 (overprovisioning factor 1.4). So a spilling route references:

- each local Service through a Backend for the FQDN of a headless twin, `<service>-pods`: its
  DNS name resolves to every ready pod, and Envoy (STRICT_DNS) makes each pod a host, so health
  is per replica, not per Service address;
- each peer cluster's gateway through a Backend for `<peer>.<hostname>`:443 over TLS (SNI and
  certificate checked against the public `hostname`, system CAs), `fallback: true`.

A BackendTrafficPolicy on the route then makes load and failures move traffic:

- active health check: GET /llmctl/room every 2 s with `Host: <hostname>`. A replica answers it
  itself (llmctl_serving/room.py: 503 when full); a peer gateway answers 200 while it is up. A
  full or failing replica leaves priority 0, and Envoy sends that share of the traffic to
  priority 1: with 4 replicas and one full, 75% x 1.4 > 100% keeps everything local; with two
  full, 30% goes to the peer; with all full, all of it.
- passive health check: 3 consecutive 5xx or connect errors eject a host for 30 s.
- retry: once, on connect failure, reset or 502/503/504, on the next priority
  (`numAttemptsPerPriority: 1`), so a failing local replica's request is retried at the peer.
- circuit breaker: at most (the local replicas' room + the peers' room) requests, connections
  and pending requests to the route at once (Envoy's default, 1024, is below a few replicas'
  batches); beyond it Envoy answers 503 at once instead of queueing without bound.
- DNS: re-resolve every 5 s (respecting TTLs), so new and removed pods are followed.
"""

from __future__ import annotations

from typing import Any

from llmctl.image import PORT
from llmctl.ir import ClusterIR, Deployment, ModelIR, PeerIR, PoolIR, RouteIR
from llmctl.render.gateway_api import EG_API, GW_API, namespaced_object, serving_placements
from llmctl.render.kubernetes import (
    PORT_NAME,
    Track,
    common_labels,
    k8s_name,
    object_meta,
    serving_selector,
    workload_name,
)
from llmctl.serving.room import ROOM_PATH  # answered in vLLM (room.py) and by each gateway

PEER_PORT = 443

Obj = dict[str, Any]


def fallback_services(deployment: Deployment, route: RouteIR, cluster: str) -> list[Obj]:
    """Service refs of the route's fallback models placed on `cluster` (their stable track)."""
    models = {m.name: m for m in deployment.models}
    refs = []
    for name in route.fallback:
        model = models[name]
        for placement, _ in serving_placements(model, cluster):
            pool = deployment.pool(placement.pool)
            refs.append(
                {
                    "group": "",
                    "kind": "Service",
                    "name": workload_name(model, pool),
                    "port": PORT,
                    "weight": 1,
                }
            )
    return refs


def via_backend(
    deployment: Deployment,
    cluster: ClusterIR,
    ref: Obj,
    fallback: bool,
    backends: dict[str, Obj],
    pods: bool = False,
) -> Obj:
    """`ref` (to a Service) as a ref to an Envoy Gateway Backend for that Service's FQDN, or with
    `pods` for its headless twin's FQDN (a host per pod, each health-checked on its own)."""
    host = pods_service_name(ref["name"]) if pods else ref["name"]
    name = k8s_name(ref["name"], "fallback" if fallback else "primary")
    if name not in backends:
        spec: Obj = {
            "endpoints": [
                {
                    "fqdn": {
                        "hostname": f"{host}.{cluster.namespace}.svc.cluster.local",
                        "port": PORT,
                    }
                }
            ]
        }
        if fallback:
            spec["fallback"] = True
        backends[name] = namespaced_object(
            f"{EG_API}/v1alpha1", "Backend", name, deployment, cluster, spec
        )
    return {"group": EG_API, "kind": "Backend", "name": name, "port": PORT, "weight": ref["weight"]}


def failover_policy(deployment: Deployment, cluster: ClusterIR, route: Obj) -> Obj:
    """Passive health checks and retries for a route with fallbacks, merged with the Gateway's
    BackendTrafficPolicy (its rate limit keeps applying)."""
    target = {"group": GW_API, "kind": "HTTPRoute", "name": route["metadata"]["name"]}
    spec: Obj = {
        "targetRefs": [target],
        "mergeType": "StrategicMerge",
        "healthCheck": {
            "passive": {
                "consecutive5XxErrors": 3,
                "interval": "5s",
                "baseEjectionTime": "30s",
                "maxEjectionPercent": 100,
            }
        },
        "retry": {
            "numRetries": 1,
            "retryOn": {
                "triggers": ["connect-failure", "retriable-status-codes"],
                "httpStatusCodes": [502, 503, 504],
            },
        },
    }
    name = k8s_name(route["metadata"]["name"], "failover")
    return namespaced_object(
        f"{EG_API}/v1alpha1", "BackendTrafficPolicy", name, deployment, cluster, spec
    )


def headless_service(
    deployment: Deployment, cluster: ClusterIR, model: ModelIR, pool: PoolIR, track: Track
) -> Obj:
    """`<service>-pods`: a headless twin of a serving Service whose DNS name lists each ready pod."""
    selector = serving_selector(deployment, model.name, pool.name, track)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            pods_service_name(workload_name(model, pool, track)),
            cluster.namespace,
            {**common_labels(deployment), **selector},
        ),
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            "ports": [
                {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def pods_service_name(service: str) -> str:
    """The headless twin of Service `service`."""
    return k8s_name(service, "pods")


def peer_backend_name(deployment: Deployment, peer: PeerIR) -> str:
    return k8s_name(deployment.name, "peer", peer.peer)


def peer_backend(deployment: Deployment, cluster: ClusterIR, peer: PeerIR) -> Obj:
    """The peer cluster's gateway as a fallback Backend: HTTPS to `<peer>.<hostname>`, the
    certificate checked against the public hostname the peer's listener serves."""
    hostname = deployment.gateway.hostname
    assert hostname is not None
    spec: Obj = {
        "endpoints": [{"fqdn": {"hostname": peer.address, "port": PEER_PORT}}],
        "fallback": True,
        "tls": {"sni": hostname, "wellKnownCACertificates": "System"},
    }
    return namespaced_object(
        f"{EG_API}/v1alpha1",
        "Backend",
        peer_backend_name(deployment, peer),
        deployment,
        cluster,
        spec,
    )


def peer_ref(deployment: Deployment, peer: PeerIR) -> Obj:
    return {
        "group": EG_API,
        "kind": "Backend",
        "name": peer_backend_name(deployment, peer),
        "port": PEER_PORT,
        "weight": 1,
    }


def spill_policy(deployment: Deployment, cluster: ClusterIR, route: Obj, max_in_flight: int) -> Obj:
    """Health checks, limits, retries and DNS for a route that spills to another cluster (the
    module docstring), merged with the Gateway's BackendTrafficPolicy (its rate limit)."""
    hostname = deployment.gateway.hostname
    assert hostname is not None
    target = {"group": GW_API, "kind": "HTTPRoute", "name": route["metadata"]["name"]}
    spec: Obj = {
        "targetRefs": [target],
        "mergeType": "StrategicMerge",
        "healthCheck": {
            "active": {
                "type": "HTTP",
                "http": {"path": ROOM_PATH, "hostname": hostname, "expectedStatuses": [200]},
                "interval": "2s",
                "timeout": "1s",
                "unhealthyThreshold": 1,
                "healthyThreshold": 1,
            },
            "passive": {
                "consecutive5XxErrors": 3,
                "interval": "5s",
                "baseEjectionTime": "30s",
                "maxEjectionPercent": 100,
            },
        },
        "circuitBreaker": {
            "maxConnections": max_in_flight,
            "maxParallelRequests": max_in_flight,
            "maxPendingRequests": max_in_flight,
        },
        "retry": {
            "numRetries": 1,
            "numAttemptsPerPriority": 1,
            "retryOn": {
                "triggers": ["connect-failure", "reset", "retriable-status-codes"],
                "httpStatusCodes": [502, 503, 504],
            },
        },
        "dns": {"dnsRefreshRate": "5s", "respectDnsTtl": True},
    }
    name = k8s_name(route["metadata"]["name"], "spill")
    return namespaced_object(
        f"{EG_API}/v1alpha1", "BackendTrafficPolicy", name, deployment, cluster, spec
    )
