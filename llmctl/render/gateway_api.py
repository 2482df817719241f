"""What gateway.py and failover.py both build on: the Gateway API and Envoy Gateway API groups,
a namespaced object with the deployment's labels, and the placements that serve a model on a
cluster with their traffic shares. Both import this module; neither imports the other back."""

from __future__ import annotations

from typing import Any

from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR
from llmctl.render.kubernetes import common_labels

Obj = dict[str, Any]

GW_API = "gateway.networking.k8s.io"
EG_API = "gateway.envoyproxy.io"


def namespaced_object(
    api: str, kind: str, name: str, deployment: Deployment, cluster: ClusterIR, spec: Obj
) -> Obj:
    """An object in the cluster's namespace with the deployment's common labels."""
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": common_labels(deployment),
        },
        "spec": spec,
    }


def serving_placements(model: ModelIR, cluster: str) -> list[tuple[PlacementIR, int]]:
    """Each placement of `model` on `cluster` with its share (percent) of the model's traffic here."""
    here = [p for p in model.placements if p.cluster == cluster]
    active = [p for p in here if p.traffic == "active"] or here
    total = sum(p.max_replicas for p in active)
    return [(p, round(100 * p.max_replicas / total) if p in active and total else 0) for p in here]
