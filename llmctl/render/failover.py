"""Route fallback: a route's Services behind Envoy Gateway Backend objects, the fallback models'
ones marked `fallback: true`, and the route's passive health checks and retries (gateway.py says
how the pieces fit; both build on gateway_api.py, so neither imports the other back)."""

from __future__ import annotations

from typing import Any

from llmctl.image import PORT
from llmctl.ir import ClusterIR, Deployment, RouteIR
from llmctl.render.gateway_api import EG_API, GW_API, namespaced_object, serving_placements
from llmctl.render.kubernetes import k8s_name, workload_name

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
    deployment: Deployment, cluster: ClusterIR, ref: Obj, fallback: bool, backends: dict[str, Obj]
) -> Obj:
    """`ref` (to a Service) as a ref to an Envoy Gateway Backend for that Service's FQDN."""
    name = k8s_name(ref["name"], "fallback" if fallback else "primary")
    if name not in backends:
        spec: Obj = {
            "endpoints": [
                {
                    "fqdn": {
                        "hostname": f"{ref['name']}.{cluster.namespace}.svc.cluster.local",
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
    return {
        "group": EG_API,
        "kind": "Backend",
        "name": name,
        "port": PORT,
        "weight": ref["weight"],
    }


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
