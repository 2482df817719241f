"""`llmctl status`: endpoints, node groups, and desired vs ready replicas of every placement.

Live from each cluster through the `kubernetes` Python client when it is installed and the
cluster's kubeconfig context answers; otherwise from the last applied revision, marked
"source": "last-apply" (ready replicas are then unknown: null); "none" before any apply, and
"mixed" at the top when clusters differ.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from llmctl.compile import Compiled
from llmctl.engine.backend import last_applied, open_state
from llmctl.ir import ClusterIR, Deployment, PoolIR
from llmctl.releases.revisions import Revision

Source = Literal["live", "last-apply", "none"]

LIVE_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    provider: str
    source: Source  # where its figures come from
    region: str | None
    context: str | None
    namespace: str
    endpoint: str | None


@dataclass(frozen=True)
class PlacementStatus:
    pool: str
    cluster: str
    traffic: str
    desired_min: int
    desired_max: int
    replicas: int | None  # None: not known (not live, or not found in the cluster)
    ready: int | None
    source: Source


@dataclass(frozen=True)
class ModelStatus:
    name: str
    served_name: str
    identity: str
    gpus_per_replica: int
    nodes_per_replica: int  # > 1: a LeaderWorkerSet group per replica
    placements: tuple[PlacementStatus, ...]


@dataclass(frozen=True)
class DeploymentStatus:
    """What `llmctl status` shows; `to_json()` is the shape of `llmctl status --json`."""

    deployment: str
    source: Source | Literal["mixed"]
    revision: Revision | None  # the last applied one
    in_sync: bool  # the spec compiles to what the last apply deployed
    hostname: str | None
    endpoints: dict[str, str]
    clusters: tuple[ClusterStatus, ...]
    node_groups: tuple[PoolIR, ...]
    models: tuple[ModelStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "source": self.source,
            "revision": _revision_summary(self.revision),
            "in_sync": self.in_sync,
            "hostname": self.hostname,
            "endpoints": dict(self.endpoints),
            "clusters": [asdict(c) for c in self.clusters],
            "node_groups": [_node_group(p) for p in self.node_groups],
            "models": [
                {
                    "name": m.name,
                    "served_name": m.served_name,
                    "identity": m.identity,
                    "gpus_per_replica": m.gpus_per_replica,
                    "nodes_per_replica": m.nodes_per_replica,
                    "placements": [
                        {
                            "pool": p.pool,
                            "cluster": p.cluster,
                            "traffic": p.traffic,
                            "desired": {"min": p.desired_min, "max": p.desired_max},
                            "replicas": p.replicas,
                            "ready": p.ready,
                            "source": p.source,
                        }
                        for p in m.placements
                    ],
                }
                for m in self.models
            ],
        }


def status(target: Compiled | Deployment) -> DeploymentStatus:
    """The deployment's status: live from the clusters where reachable, else the last apply."""
    d = target.deployment if isinstance(target, Compiled) else target
    last = last_applied(open_state(d))
    outputs = last.outputs if last is not None else {}
    endpoints = dict(outputs.get("endpoints") or {})
    live = {c.name: _live_replicas(d, c) for c in d.clusters}
    # One truth per output: where each figure comes from, the same at every level.
    source_of: dict[str, Source] = {
        c.name: "live" if live[c.name] is not None else ("last-apply" if last else "none")
        for c in d.clusters
    }
    clusters = tuple(
        ClusterStatus(
            c.name,
            c.provider,
            source_of[c.name],
            c.region,
            c.context,
            c.namespace,
            endpoints.get(c.name),
        )
        for c in d.clusters
    )
    models = []
    for m in d.models:
        placements = []
        for p in m.placements:
            ready = (live[p.cluster] or {}).get(_workload(d, m.name, p.pool))
            placements.append(
                PlacementStatus(
                    p.pool,
                    p.cluster,
                    p.traffic,
                    p.min_replicas,
                    p.max_replicas,
                    ready[0] if ready else None,
                    ready[1] if ready else None,
                    source_of.get(p.cluster, "none"),
                )
            )
        models.append(
            ModelStatus(
                m.name, m.served_name, m.identity(), m.gpus, m.nodes_per_replica, tuple(placements)
            )
        )
    sources = set(source_of.values()) or {"last-apply" if last else "none"}
    return DeploymentStatus(
        deployment=d.name,
        source=sources.pop() if len(sources) == 1 else "mixed",
        revision=last,
        in_sync=last is not None and last.release.deployment == d,
        hostname=d.gateway.hostname,
        endpoints=endpoints,
        clusters=clusters,
        node_groups=tuple(p for c in d.clusters for p in c.pools),
        models=tuple(models),
    )


def _revision_summary(last: Revision | None) -> dict[str, Any] | None:
    if last is None:
        return None
    return {
        "number": last.number,
        "created_at": last.created_at,
        "user": last.user,
        "git_commit": last.git_commit,
    }


def _node_group(p: PoolIR) -> dict[str, Any]:
    return {
        "pool": p.key,
        "cluster": p.cluster,
        "provider": p.provider,
        "instance_type": p.instance_type,
        "gpu": p.gpu_model,
        "gpus_per_node": p.gpus_per_node,
        "capacity": list(p.capacity),
        "min_nodes": p.min_nodes,
        "max_nodes": p.max_nodes,
    }


def _workload(d: Deployment, model: str, pool_key: str) -> str:
    from llmctl.render.kubernetes import workload_name

    m = next(x for x in d.models if x.name == model)
    if m.group is not None:  # a multi-node model runs as a LeaderWorkerSet (replicas = groups)
        from llmctl.render.leaderworkerset import group_name

        return group_name(m, d.pool(pool_key).name)
    return workload_name(m, d.pool(pool_key))


def _live_replicas(d: Deployment, c: ClusterIR) -> dict[str, tuple[int, int]] | None:
    """{Deployment name: (replicas, ready)} in the cluster's namespace, or None if unreachable."""
    if c.provider != "kubernetes":
        return None  # EKS contexts are not in the user's kubeconfig by name; use the revision
    try:
        from kubernetes import client, config  # optional: `pip install kubernetes`
    except ImportError:
        return None
    try:
        kubeconfig = os.path.expanduser(c.kubeconfig) if c.kubeconfig else None
        api = client.AppsV1Api(
            config.new_client_from_config(config_file=kubeconfig, context=c.context)
        )
        items = api.list_namespaced_deployment(
            c.namespace,
            label_selector=f"app.kubernetes.io/instance={d.name}",
            _request_timeout=LIVE_TIMEOUT_SECONDS,
        ).items
    except Exception:  # noqa: BLE001 - unreachable, no such context, forbidden: fall back
        return None
    live = {i.metadata.name: (i.status.replicas or 0, i.status.ready_replicas or 0) for i in items}
    groups = [m.group for m, _ in d.models_on(c.name) if m.group is not None]
    if groups:
        group, version = groups[0].lws_api_version.split("/")
        try:
            custom = client.CustomObjectsApi(api.api_client)
            found = custom.list_namespaced_custom_object(
                group,
                version,
                c.namespace,
                "leaderworkersets",
                label_selector=f"app.kubernetes.io/instance={d.name}",
                _request_timeout=LIVE_TIMEOUT_SECONDS,
            )
        except Exception:  # noqa: BLE001 - no LWS CRD, forbidden: those placements show nothing
            return live
        for item in found.get("items", []):
            st = item.get("status") or {}
            live[item["metadata"]["name"]] = (st.get("replicas", 0), st.get("readyReplicas", 0))
    return live
