"""The serving objects of a cluster, as plain dicts in apply order.

Per model x placement (pool) and track ("stable", or "canary" during a rollout):
- a Deployment and a ClusterIP Service "<model>-<pool>" ("<model>-<pool>-canary"), selecting
  pods by deployment, model, pool and track, so the gateway can weight the two tracks;
- a ConfigMap "<model>-serving" ("<model>-serving-canary") holding serving.json, the launcher's
  config; pods carry its hash, so a config change rolls them;
- for the stable track: a HorizontalPodAutoscaler (monitoring.py) and a PodDisruptionBudget.
Per model: a ServiceAccount "<model>-serving" (the AWS stack attaches the S3 read role to it
with EKS Pod Identity). Per cluster, elsewhere: the Namespace and NetworkPolicy (cluster.py),
the ServiceMonitor (monitoring.py), the gateway objects (gateway.py).

Choices worth knowing (each is also where it is made, below):
- Serving pods check an API key of their own (VLLM_API_KEY from the `<name>-upstream-key`
  Secret; vLLM checks it on /v1 only), which the gateway adds upstream after checking the
  client's (upstream_auth.py); the launcher refuses to start without it (fail closed).
- /dev/shm is a memory emptyDir of 1 GiB plus 2 GiB per extra tensor-parallel GPU (NCCL and
  vLLM's worker message queues use it; vLLM's docs ask for a large shm with tensor parallelism).
  tmpfs pages count against the container's memory limit, so the limit adds the shm size.
- The root filesystem is read-only; vLLM's writable paths are emptyDirs: $HOME (compile and
  kernel caches under ~/.cache, ~/.triton), /tmp, and the model cache (/models, 1.2 x the
  weights for hf:// downloads; s3:// sources stream into GPU memory and keep only small files).
- With an autoscaler, `spec.replicas` is left out so that re-applying never fights the HPA.
- A placement with min 0 replicas gets no HPA (the HPA cannot scale from zero on pod metrics
  without the alpha HPAScaleToZero gate); it stays at 0 until someone scales it.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from llmctl.image import CACHE_DIR, IMAGE_GID, IMAGE_HOME, IMAGE_UID, PORT
from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR, PoolIR
from llmctl.metrics import POD_MODEL_LABEL, POD_TRACK_LABEL
from llmctl.render.serving_image import (
    extra_mounts,
    extra_volumes,
    is_upstream,
    launcher_files,
    pod_env,
)
from llmctl.render.upstream_auth import upstream_key_env
from llmctl.serving.config import HF_TOKEN_ENV, serving_config

Obj = dict[str, Any]
Track = Literal["stable", "canary"]

LAUNCHER_COMMAND = ("python3", "-m", "llmctl_serving.launcher")
CONFIG_DIR = "/etc/llmctl"  # the launcher's default config path is CONFIG_DIR/serving.json
CONFIG_KEY = "serving.json"
PORT_NAME = "http"
HEALTH_PATH = "/health"
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"  # the AWS EFA device plugin's resource
POOL_LABEL = "llmctl.dev/pool"
IDENTITY_LABEL = "llmctl.dev/identity"
POD_ROLE_LABEL = "llmctl.dev/role"  # multi-node groups: leader | worker
CONFIG_HASH_ANNOTATION = "llmctl.dev/serving-config-sha256"
STARTUP_PERIOD_SECONDS = 10
SCRATCH_GIB = 10  # $HOME and /tmp each


def k8s_name(*parts: str) -> str:
    """A DNS-1035 label from `parts` joined by "-": starts with a letter, at most 63 chars."""
    name = "-".join(p for p in parts if p)
    if not name[:1].isalpha():
        name = "m-" + name  # Service names must start with a letter; model names may not
    if len(name) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def common_labels(deployment: Deployment) -> dict[str, str]:
    """Labels on every object: the spec's own labels, then llmctl's (which win on a clash)."""
    return {
        **deployment.labels,
        "app.kubernetes.io/instance": deployment.name,
        "app.kubernetes.io/managed-by": "llmctl",
    }


def serving_selector(deployment: Deployment, model: str, pool: str, track: Track) -> dict[str, str]:
    """The labels that select one track of one model on one pool (Deployment and Service)."""
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": deployment.name,
        POD_MODEL_LABEL: model,
        POOL_LABEL: pool,
        POD_TRACK_LABEL: track,
    }


def workload_name(model: ModelIR, pool: PoolIR, track: Track = "stable") -> str:
    """Name of the Deployment and Service of one track of `model` on `pool`."""
    return k8s_name(model.name, pool.name, "canary" if track == "canary" else "")


def config_map_name(model: ModelIR, track: Track = "stable") -> str:
    """Name of the ConfigMap holding `model`'s serving.json for `track`."""
    return k8s_name(model.name, "serving", "canary" if track == "canary" else "")


def service_account_name(model: ModelIR) -> str:
    """Name of `model`'s ServiceAccount (shared by both tracks, for the S3 read role)."""
    return k8s_name(model.name, "serving")


def serving_json(model: ModelIR) -> str:
    """The launcher config as mounted: serving_config(), which names VLLM_API_KEY."""
    return json.dumps(serving_config(model, port=PORT), sort_keys=True, indent=2) + "\n"


def object_meta(name: str, namespace: str | None, labels: dict[str, str]) -> Obj:
    """metadata: name, namespace (None for cluster-scoped objects), labels."""
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    return meta


def shm_gib(model: ModelIR) -> int:
    """Size of the /dev/shm memory volume: 1 GiB plus 2 GiB per extra tensor-parallel GPU."""
    return 1 + 2 * (model.tensor_parallel - 1)


def cache_gib(model: ModelIR) -> int:
    """Size limit of the model cache volume: 1.2 x the weights for downloads (hf://)."""
    if model.source_scheme in ("s3", "pvc"):
        return SCRATCH_GIB  # streamed, or read from the claim: only small files land here
    return max(SCRATCH_GIB, math.ceil(1.2 * model.sizing.weights_gib))


def cpu_memory_requests(model: ModelIR, pool: PoolIR) -> tuple[int, int]:
    """(CPU cores, memory GiB) one replica requests on `pool`.

    Where compile knows the node's size (a catalog instance type): 80% of the replica's GPU share
    of the node's vCPUs and memory, leaving room for the kubelet and daemonsets. Elsewhere (node
    size unknown): 2 cores and 6 GiB per GPU plus 8 GiB for the API server process.
    """
    tp = model.tensor_parallel
    if pool.node_vcpus is None or pool.node_memory_gib is None:
        return 2 * tp, 8 + 6 * tp
    share = tp / pool.gpus_per_node
    return max(1, math.floor(pool.node_vcpus * share * 0.8)), max(
        4, math.floor(pool.node_memory_gib * share * 0.8)
    )


def _probes(model: ModelIR) -> Obj:
    def http(**extra: int) -> Obj:
        return {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}, **extra}

    # Startup: failureThreshold x periodSeconds is the whole budget for download, load and
    # graph capture; liveness only starts afterwards, so a slow load is never killed.
    budget = model.timing.startup_budget_seconds
    return {
        "startupProbe": http(
            periodSeconds=STARTUP_PERIOD_SECONDS,
            timeoutSeconds=5,
            failureThreshold=math.ceil(budget / STARTUP_PERIOD_SECONDS),
        ),
        "readinessProbe": http(periodSeconds=5, timeoutSeconds=5, failureThreshold=3),
        # /health can answer slowly under a full batch: a minute of failures before a restart.
        "livenessProbe": http(periodSeconds=10, timeoutSeconds=10, failureThreshold=6),
    }


def serving_container(
    deployment: Deployment,
    model: ModelIR,
    pool: PoolIR,
    image: str,
    serves_http: bool = True,
) -> Obj:
    """The vLLM container (the launcher): env, port, GPUs (and the pool's EFA interfaces),
    probes, drain, hardening. `serves_http=False`: a headless member of a multi-node group,
    which runs no API server, so it has no port and no HTTP probes."""
    cpu, memory = cpu_memory_requests(model, pool)
    env: list[Obj] = [*pod_env(model, IMAGE_HOME, pool), upstream_key_env(deployment)]
    if model.hf_token_secret:
        env.append(
            {
                "name": HF_TOKEN_ENV,
                "valueFrom": {"secretKeyRef": {"name": model.hf_token_secret, "key": HF_TOKEN_ENV}},
            }
        )
    gpus = str(model.tensor_parallel)
    devices = {GPU_RESOURCE: gpus}
    if model.group is not None and pool.efa_per_node:
        # A group's members talk over EFA where the instance type has it (the whole node's).
        devices[EFA_RESOURCE] = str(pool.efa_per_node)
    http: Obj = {
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        **_probes(model),
    }
    return {
        "name": "vllm",
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # tags are content hashes: never re-pulled for nothing
        "command": list(LAUNCHER_COMMAND),
        "env": env,
        **({"ports": http.pop("ports")} if serves_http else {}),
        "resources": {
            # No CPU limit: throttling the tokenizer and scheduler costs latency, not safety.
            "requests": {"cpu": str(cpu), "memory": f"{memory}Gi", **devices},
            "limits": {"memory": f"{memory + shm_gib(model)}Gi", **devices},
        },
        **(http if serves_http else {}),
        # The endpoint leaves the Service while vLLM still serves; then SIGTERM starts the drain.
        "lifecycle": {
            "preStop": {"exec": {"command": ["sleep", str(model.timing.pre_stop_seconds)]}}
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_GID,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "shm", "mountPath": "/dev/shm"},
            {"name": "model-cache", "mountPath": CACHE_DIR},
            {"name": "home", "mountPath": IMAGE_HOME},
            {"name": "tmp", "mountPath": "/tmp"},
            *extra_mounts(model),
        ],
    }


def _tolerations(pool: PoolIR) -> list[Obj]:
    tolerations: list[Obj] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    for taint in pool.taints:
        if taint.get("key") != GPU_RESOURCE:
            tolerations.append(
                {
                    "key": taint["key"],
                    "operator": "Equal",
                    "value": taint.get("value", ""),
                    "effect": taint["effect"],
                }
            )
    return tolerations


def config_hash(model: ModelIR) -> str:
    """Hash of the serving ConfigMap's data: pods carry it, so a config change rolls them."""
    return hashlib.sha256(json.dumps(config_map_data(model), sort_keys=True).encode()).hexdigest()


def pod_template(
    deployment: Deployment,
    cluster: ClusterIR,
    model: ModelIR,
    pool: PoolIR,
    image: str,
    track: Track,
    labels: dict[str, str],
    container: Obj | None = None,
) -> Obj:
    """The serving pod template (a Deployment's, or a LeaderWorkerSet's leader and workers):
    hardening, scheduling onto the pool, volumes; `container` replaces the vLLM container."""
    timing = model.timing
    return {
        "metadata": {
            "labels": labels,
            "annotations": {
                CONFIG_HASH_ANNOTATION: config_hash(model),
                "kubectl.kubernetes.io/default-container": "vllm",
            },
        },
        "spec": {
            "serviceAccountName": service_account_name(model),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,  # no *_SERVICE_HOST variables in vLLM's environment
            "terminationGracePeriodSeconds": timing.termination_grace_seconds,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": IMAGE_UID,
                "runAsGroup": IMAGE_GID,
                "fsGroup": IMAGE_GID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "nodeSelector": dict(pool.node_selector),
            "tolerations": _tolerations(pool),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {
                        "matchLabels": serving_selector(deployment, model.name, pool.name, track)
                    },
                }
            ],
            "containers": [container or serving_container(deployment, model, pool, image)],
            "volumes": [
                {
                    "name": "config",
                    "configMap": {
                        "name": config_map_name(model, track),
                        "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}],
                    },
                },
                {
                    "name": "shm",
                    "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_gib(model)}Gi"},
                },
                {"name": "model-cache", "emptyDir": {"sizeLimit": f"{cache_gib(model)}Gi"}},
                {"name": "home", "emptyDir": {"sizeLimit": f"{SCRATCH_GIB}Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": f"{SCRATCH_GIB}Gi"}},
                *extra_volumes(model, config_map_name(model, track), cluster),
            ],
        },
    }


def replicas_field(
    deployment: Deployment,
    model: ModelIR,
    placement: PlacementIR,
    track: Track,
    replicas: int | None,
) -> Obj:
    """{"replicas": N} of a workload (a Deployment or a LeaderWorkerSet), or {} where the HPA or
    KEDA owns the count (the stable track of an autoscaled or scale-from-zero placement)."""
    if replicas is not None:
        return {"replicas": replicas}
    if track == "canary" or not (
        has_autoscaler(model, placement) or scales_from_zero(deployment, placement)
    ):
        return {"replicas": placement.min_replicas}
    return {}


def deployment_object(
    deployment: Deployment,
    cluster: ClusterIR,
    model: ModelIR,
    placement: PlacementIR,
    image: str,
    track: Track = "stable",
    replicas: int | None = None,
) -> Obj:
    """The apps/v1 Deployment of one track of `model` on `placement`'s pool."""
    pool = deployment.pool(placement.pool)
    selector = serving_selector(deployment, model.name, pool.name, track)
    labels = {**common_labels(deployment), **selector, IDENTITY_LABEL: model.identity()}
    timing = model.timing
    spec: Obj = replicas_field(deployment, model, placement, track, replicas)
    spec |= {
        "revisionHistoryLimit": 3,
        # A replica that has not started within its startup budget (plus scheduling) fails the
        # rollout instead of hanging it.
        "progressDeadlineSeconds": timing.startup_budget_seconds + 300,
        "selector": {"matchLabels": selector},
        # Surge, never shrink, where the pool has room (GPU replicas are few: one less is a real
        # capacity cut); on a full pool a surge pod would never schedule and the update would
        # hang until its deadline, so replace one at a time (compile decided: update_surge).
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": placement.update_surge,
                "maxUnavailable": 0 if placement.update_surge else 1,
            },
        },
        "template": pod_template(deployment, cluster, model, pool, image, track, labels),
    }
    name = workload_name(model, pool, track)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, cluster.namespace, labels),
        "spec": spec,
    }


def scaler_prometheus_url(deployment: Deployment, cluster: ClusterIR) -> str | None:
    """The Prometheus the KEDA scalers of `cluster` query (an IR stored before clusters had
    their own carries only the deployment's)."""
    return cluster.prometheus_url or deployment.prometheus_url


def scales_from_zero(deployment: Deployment, placement: PlacementIR) -> bool:
    """True when an overflow placement with min 0 gets a KEDA ScaledObject (monitoring.py): it
    starts replicas when the model's queue grows, in the Prometheus its cluster reads."""
    return (
        placement.traffic == "overflow"
        and placement.min_replicas == 0
        and placement.max_replicas > 0
        and scaler_prometheus_url(deployment, deployment.cluster(placement.cluster)) is not None
    )


def has_autoscaler(model: ModelIR, placement: PlacementIR) -> bool:
    """True when the stable track of `placement` gets an HPA (see the module docstring)."""
    return (
        model.autoscaling is not None
        and placement.max_replicas > placement.min_replicas
        and placement.min_replicas >= 1
    )


def service_object(
    deployment: Deployment,
    cluster: ClusterIR,
    model: ModelIR,
    pool: PoolIR,
    track: Track = "stable",
) -> Obj:
    """The ClusterIP Service in front of one track of `model` on `pool`, port 8000."""
    selector = serving_selector(deployment, model.name, pool.name, track)
    if model.group is not None:
        # Only a group's leader runs the API server: route to leaders only.
        selector = {**selector, POD_ROLE_LABEL: "leader"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            workload_name(model, pool, track),
            cluster.namespace,
            {**common_labels(deployment), **selector},
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def config_map_object(
    deployment: Deployment, cluster: ClusterIR, model: ModelIR, track: Track = "stable"
) -> Obj:
    """The ConfigMap with `model`'s serving.json, mounted at /etc/llmctl."""
    labels = {**common_labels(deployment), POD_MODEL_LABEL: model.name, POD_TRACK_LABEL: track}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(config_map_name(model, track), cluster.namespace, labels),
        "data": config_map_data(model),
    }


def config_map_data(model: ModelIR) -> dict[str, str]:
    """serving.json, plus the launcher package when `model` runs the upstream image."""
    data = {CONFIG_KEY: serving_json(model)}
    if is_upstream(model):
        data |= launcher_files()
    return data


def service_account_object(deployment: Deployment, cluster: ClusterIR, model: ModelIR) -> Obj:
    """`model`'s ServiceAccount; it mounts no API token (vLLM never calls the Kubernetes API)."""
    labels = {**common_labels(deployment), POD_MODEL_LABEL: model.name}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(service_account_name(model), cluster.namespace, labels),
        "automountServiceAccountToken": False,
    }


def pdb_object(deployment: Deployment, cluster: ClusterIR, model: ModelIR, pool: PoolIR) -> Obj:
    """At most one stable replica down at a time for voluntary disruptions (drains, upgrades).

    maxUnavailable rather than minAvailable: it stays right when the HPA changes the count, and
    it never blocks draining a single-replica placement for good. For a multi-node model it
    selects every member of every group: evicting any member takes its whole group down
    (RecreateGroupOnPodRestart), so one pod at a time means at most one group at a time, and a
    drain never breaks a second group while one is being recreated.
    """
    selector = serving_selector(deployment, model.name, pool.name, "stable")
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(
            workload_name(model, pool), cluster.namespace, {**common_labels(deployment), **selector}
        ),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
