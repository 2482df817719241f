"""Every Kubernetes object of one cluster, in apply order: the entry points of RENDER.

`render_cluster_objects` is what the cluster stack registers and `llmctl render` writes.
`render_model_objects` is the per-placement slice of it, which the rollout driver uses to render
a canary: ConfigMap "<model>-serving-canary", Deployment and Service "<model>-<pool>-canary"
(the ServiceAccount is the stable one; canaries get no HPA or PDB). The gateway then weights the
two Services of each placement: `render_gateway_objects(..., canary={model: percent})`.

Cluster-wide objects live here too: the Namespace (Pod Security "restricted", which the serving
pods meet) and the NetworkPolicy that admits only this Gateway's Envoy pods and the monitoring
namespace to the serving pods, on port 8000.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmctl.errors import LlmctlError
from llmctl.image import PORT
from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR
from llmctl.render.gateway import render_gateway_objects
from llmctl.render.kubernetes import (
    Track,
    common_labels,
    config_map_object,
    deployment_object,
    has_autoscaler,
    k8s_name,
    object_meta,
    pdb_object,
    scales_from_zero,
    service_account_object,
    service_object,
)
from llmctl.render.leaderworkerset import group_network_policy, leader_worker_set_object
from llmctl.render.monitoring import hpa_object, scaled_object, service_monitor_object
from llmctl.render.serving_image import cache_claim_object, compile_cache
from llmctl.render.upstream_auth import egress_rules

Obj = dict[str, Any]

# Envoy Gateway runs its proxies in its controller's namespace and labels them with their Gateway.
GATEWAY_NAMESPACE = "envoy-gateway-system"
GATEWAY_OWNER_LABELS = (
    "gateway.envoyproxy.io/owning-gateway-name",
    "gateway.envoyproxy.io/owning-gateway-namespace",
)
MONITORING_NAMESPACE = "monitoring"

# Apply order by kind: what others refer to first; CRD kinds (gateway, monitoring) last.
KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "ConfigMap",
    "Deployment",
    "LeaderWorkerSet",
    "Service",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "GatewayClass",
    "Gateway",
    "ClientTrafficPolicy",
    "SecurityPolicy",
    "BackendTrafficPolicy",
    "EnvoyExtensionPolicy",
    "HTTPRouteFilter",
    "Backend",
    "HTTPRoute",
    "ServiceMonitor",
)


def namespace_object(deployment: Deployment, cluster: ClusterIR) -> Obj:
    """The cluster's namespace; serving pods meet the "restricted" Pod Security Standard."""
    labels = {**common_labels(deployment), "pod-security.kubernetes.io/enforce": "restricted"}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": object_meta(cluster.namespace, None, labels),
    }


def network_policy_object(deployment: Deployment, cluster: ClusterIR) -> Obj:
    """Ingress to the serving pods: port 8000, from this Gateway's Envoy pods and monitoring
    only; egress: DNS, and HTTPS to public addresses when weights come from hf:// or s3://."""
    gateway_pods = {
        GATEWAY_OWNER_LABELS[0]: deployment.name,
        GATEWAY_OWNER_LABELS[1]: cluster.namespace,
    }
    ns_key = "kubernetes.io/metadata.name"  # set by Kubernetes itself on every namespace
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(
            k8s_name(deployment.name, "serving"), cluster.namespace, common_labels(deployment)
        ),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "vllm",
                    "app.kubernetes.io/instance": deployment.name,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {ns_key: GATEWAY_NAMESPACE}},
                            "podSelector": {"matchLabels": gateway_pods},
                        },
                        {"namespaceSelector": {"matchLabels": {ns_key: MONITORING_NAMESPACE}}},
                    ],
                    "ports": [{"port": PORT, "protocol": "TCP"}],
                }
            ],
            "egress": egress_rules(deployment, cluster.name),
        },
    }


def render_model_objects(
    deployment: Deployment,
    model: ModelIR,
    placement: PlacementIR,
    image: str,
    track: Track = "stable",
    replicas: int | None = None,
) -> list[Obj]:
    """The objects of one track of `model` on one placement, running `image`: ConfigMap,
    Deployment, Service, and for the stable track its HPA (when autoscaled) and PDB; a
    multi-node model gets a LeaderWorkerSet (leaderworkerset.py) where others get a Deployment."""
    cluster = deployment.cluster(placement.cluster)
    pool = deployment.pool(placement.pool)
    workload = (
        leader_worker_set_object(deployment, cluster, model, placement, image, track, replicas)
        if model.group is not None
        else deployment_object(deployment, cluster, model, placement, image, track, replicas)
    )
    objects = [
        config_map_object(deployment, cluster, model, track),
        workload,
        service_object(deployment, cluster, model, pool, track),
    ]
    if track == "stable":
        if has_autoscaler(model, placement):
            objects.append(hpa_object(deployment, cluster, model, placement, pool))
        elif scales_from_zero(deployment, placement):
            objects.append(scaled_object(deployment, cluster, model, placement, pool))
        if placement.max_replicas > 0:
            objects.append(pdb_object(deployment, cluster, model, pool))
    return objects


def _key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def render_cluster_objects(
    deployment: Deployment,
    cluster: str,
    images: Mapping[str, str] | None = None,
    track: Track = "stable",
    canary: Mapping[str, int] | None = None,
) -> list[Obj]:
    """Every object of `cluster`, in apply order (KIND_ORDER, then spec order); `images` is the
    Release's {model: image} (default: llmctl's bundled images in the default repository);
    `canary` ({model: percent}) splits the gateway's weights during a rollout step."""
    c = deployment.cluster(cluster)
    if images is None:
        from llmctl.release import make_release

        images = make_release(deployment).images
    placed = deployment.models_on(cluster)
    objects: list[Obj] = [namespace_object(deployment, c)]
    seen_models: set[str] = set()
    for model, placement in placed:
        if model.name not in seen_models:
            seen_models.add(model.name)
            objects.append(service_account_object(deployment, c, model))
        objects += render_model_objects(deployment, model, placement, images[model.name], track)
    if any(compile_cache(m, c)[0] == "cluster-claim" for m, _ in placed):
        objects.append(cache_claim_object(c, common_labels(deployment)))
    if placed:
        objects.append(network_policy_object(deployment, c))
        for model in {m.name: m for m, _ in placed if m.group is not None}.values():
            objects.append(group_network_policy(deployment, c, model))
        objects += render_gateway_objects(deployment, cluster, canary=canary)
        objects.append(service_monitor_object(deployment, c))
    # Several placements of a model on one cluster share its ConfigMap: keep one (identical).
    unique: dict[tuple[str, str], Obj] = {}
    for obj in objects:
        previous = unique.setdefault(_key(obj), obj)
        if previous is not obj and previous != obj:
            raise LlmctlError(
                f"two different {obj['kind']} objects named {obj['metadata']['name']}",
                hint="rename a model or a pool so their names differ",
            )
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(unique.values(), key=lambda o: order[o["kind"]])
