"""A multi-node replica as a LeaderWorkerSet (sigs.k8s.io/lws, API leaderworkerset.x-k8s.io/v1).

Compile decided the shape (`ModelIR.group`): `size` pods per replica, one per node, each with all
of its node's GPUs; tensor parallel within a node, pipeline parallel across nodes. Per placement
and track, this renders one LeaderWorkerSet "<model>-<pool>[-canary]-group", whose replicas are
groups:

- the leader (worker index 0) and the workers run the same launcher and serving.json; the
  launcher adds `--node-rank $LWS_WORKER_INDEX --master-addr $LWS_LEADER_ADDRESS` and, on every
  member but the leader, `--headless` (vLLM's own multi-node mode; no Ray). The leader alone
  runs the API server, so it alone has the port and the /health probes; the Service
  "<model>-<pool>" (kubernetes.service_object) selects leaders only (POD_ROLE_LABEL);
- both templates carry the same hardening, volumes, preStop and grace period as a single-node
  Deployment's pods (kubernetes.pod_template);
- one member per node: a required pod anti-affinity on the hostname over every member of the
  model on the pool (each member also asks for all of a node's GPUs);
- `restartPolicy: RecreateGroupOnPodRestart`: a member that dies or restarts takes its whole
  group down and LeaderWorkerSet recreates it (a pipeline cannot continue without a stage);
- `startupPolicy: LeaderCreated`: workers start with the leader; the leader becomes Ready only
  once every stage joined, so `LeaderReady` would wait for ever;
- every field LeaderWorkerSet's defaulting webhook would set is set here (rollout strategy,
  partition, subdomain policy), so what is applied is what is diffed, webhook or not;
- `pulumi.com/waitFor: condition=Available`: an apply waits until every group is Ready, as it
  waits for a Deployment, within the same deadline (startup budget + 5 minutes).

The headless Service LeaderWorkerSet creates for its pods' DNS takes the LeaderWorkerSet's name,
which is why that name has the "-group" suffix: it must not be the serving Service's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR
from llmctl.metrics import POD_MODEL_LABEL, POD_TRACK_LABEL
from llmctl.render.kubernetes import (
    IDENTITY_LABEL,
    POD_ROLE_LABEL,
    Track,
    common_labels,
    k8s_name,
    object_meta,
    pod_template,
    replicas_field,
    serving_container,
    serving_selector,
)

Obj = dict[str, Any]

LWS_KIND = "LeaderWorkerSet"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
# LeaderWorkerSet derives StatefulSet and pod names (plus "-<group>-<worker>" and a revision
# hash label) from its own name: keep it short enough for every one of them.
MAX_NAME = 40


def group_name(model: ModelIR, pool_name: str, track: Track = "stable") -> str:
    """Name of the LeaderWorkerSet of one track of `model` on a pool."""
    name = "-".join(
        p for p in (model.name, pool_name, "canary" if track == "canary" else "", "group") if p
    )
    if not name[:1].isalpha():
        name = "m-" + name
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"
    return name


def member_anti_affinity(deployment: Deployment, model: ModelIR, pool_name: str) -> Obj:
    """At most one member of any group of `model` on a node (both tracks: a canary group never
    shares a node with a stable one either)."""
    selector = serving_selector(deployment, model.name, pool_name, "stable")
    selector.pop(POD_TRACK_LABEL)
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": selector},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def leader_worker_set_object(
    deployment: Deployment,
    cluster: ClusterIR,
    model: ModelIR,
    placement: PlacementIR,
    image: str,
    track: Track = "stable",
    replicas: int | None = None,
) -> Obj:
    """The LeaderWorkerSet of one track of a multi-node `model` on `placement`'s pool."""
    assert model.group is not None, "a LeaderWorkerSet is for a multi-node model"
    pool = deployment.pool(placement.pool)
    selector = serving_selector(deployment, model.name, pool.name, track)
    labels = {**common_labels(deployment), **selector, IDENTITY_LABEL: model.identity()}

    def template(role: str) -> Obj:
        leader = role == "leader"
        container = serving_container(deployment, model, pool, image, serves_http=leader)
        tpl = pod_template(
            deployment,
            cluster,
            model,
            pool,
            image,
            track,
            {**labels, POD_ROLE_LABEL: role},
            container,
        )
        tpl["spec"].pop("topologySpreadConstraints")  # the anti-affinity below is stronger
        tpl["spec"]["affinity"] = member_anti_affinity(deployment, model, pool.name)
        return tpl

    spec: Obj = replicas_field(deployment, model, placement, track, replicas)
    surge = placement.update_surge
    spec |= {
        "startupPolicy": "LeaderCreated",
        # A group is replaced whole; surge a group where the pool has room for one (compile
        # decided, counting whole nodes), else replace one group at a time.
        "rolloutStrategy": {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {
                "maxSurge": surge,
                "maxUnavailable": 0 if surge else 1,
                "partition": 0,
            },
        },
        "networkConfig": {"subdomainPolicy": "Shared"},
        "leaderWorkerTemplate": {
            "size": model.group.size,
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": template("leader"),
            "workerTemplate": template("worker"),
        },
    }
    meta = object_meta(group_name(model, pool.name, track), cluster.namespace, labels)
    # Pulumi waits for a Deployment's rollout by itself; for this custom kind it waits for the
    # controller's Available condition (every group Ready), as long as a Deployment may take.
    meta["annotations"] = {
        WAIT_FOR_ANNOTATION: "condition=Available",
        TIMEOUT_ANNOTATION: str(model.timing.startup_budget_seconds + 300),
    }
    return {
        "apiVersion": model.group.lws_api_version,
        "kind": LWS_KIND,
        "metadata": meta,
        "spec": spec,
    }


def group_network_policy(deployment: Deployment, cluster: ClusterIR, model: ModelIR) -> Obj:
    """The members of `model`'s groups reach each other on every port (torch.distributed's
    rendezvous on the leader, NCCL's sockets); the cluster's serving policy admits only the
    gateway and monitoring on the API port, and policies add up."""
    members = {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": deployment.name,
        POD_MODEL_LABEL: model.name,
    }
    peers = [{"podSelector": {"matchLabels": members}}]

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(
            k8s_name(model.name, "group"), cluster.namespace, common_labels(deployment)
        ),
        "spec": {
            "podSelector": {"matchLabels": members},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": peers}],
            "egress": [{"to": peers}],
        },
    }
