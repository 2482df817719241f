"""Deployment IRs and rendered objects built by hand, for the stack tests.

The compiler will produce such IRs from specs; these are written out so the stacks can be tested
on their own: an AWS cluster llmctl creates (a spot-with-on-demand-fallback L40S pool and an
on-demand A10G pool), an on-prem cluster with an A100 pool, two models (one from s3://) and a
gateway with a Route 53 zone.
"""

from __future__ import annotations

from typing import Any

from llmctl.ir import (
    AnalysisIR,
    ArchitectureIR,
    ClusterIR,
    Deployment,
    EngineIR,
    GatewayIR,
    ModelIR,
    PlacementIR,
    PoolIR,
    RolloutIR,
    RouteIR,
    SizingIR,
    TimingIR,
)

NAME = "support-bot"
NAMESPACE = "support-bot"
API_KEYS_ENV = "LLMCTL_TEST_API_KEYS"
MODEL_BUCKET = "acme-models"
MODEL_PREFIX = "mistral/7b-instruct"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def l40s_pool() -> PoolIR:
    return PoolIR(
        key="cloud/l40s",
        cluster="cloud",
        name="l40s",
        provider="aws",
        gpu_model="L40S",
        gpu_memory_gib=48,
        gpus_per_node=1,
        min_nodes=0,
        max_nodes=8,
        instance_type="g6e.xlarge",
        capacity=("spot", "on-demand"),
        disk_gb=300,
        node_selector={"llmctl.dev/pool": "l40s"},
        node_labels={"llmctl.dev/pool": "l40s", "nvidia.com/gpu.product": "NVIDIA-L40S"},
        taints=(GPU_TAINT,),
        node_hour_usd=1.861,
        spot_node_hour_usd=0.75,
    )


def a10g_pool() -> PoolIR:
    return PoolIR(
        key="cloud/a10g",
        cluster="cloud",
        name="a10g",
        provider="aws",
        gpu_model="A10G",
        gpu_memory_gib=24,
        gpus_per_node=4,
        min_nodes=1,
        max_nodes=2,
        instance_type="g5.12xlarge",
        capacity=("on-demand",),
        node_selector={"llmctl.dev/pool": "a10g"},
        node_labels={"llmctl.dev/pool": "a10g", "nvidia.com/gpu.product": "NVIDIA-A10G"},
        taints=(GPU_TAINT,),
        node_hour_usd=5.672,
    )


def a100_pool() -> PoolIR:
    return PoolIR(
        key="dc1/a100",
        cluster="dc1",
        name="a100",
        provider="kubernetes",
        gpu_model="A100-80GB",
        gpu_memory_gib=80,
        gpus_per_node=8,
        min_nodes=4,
        max_nodes=4,
        node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        node_hour_usd=8.8,
    )


def cloud_cluster(existing: str | None = None) -> ClusterIR:
    return ClusterIR(
        name="cloud",
        provider="aws",
        namespace=NAMESPACE,
        region="us-west-2",
        create=existing is None,
        existing=existing,
        version="1.33",
        pools=(l40s_pool(), a10g_pool()),
    )


def dc1_cluster() -> ClusterIR:
    return ClusterIR(
        name="dc1",
        provider="kubernetes",
        namespace=NAMESPACE,
        context="dc1-admin",
        kubeconfig="~/.kube/config",
        pools=(a100_pool(),),
    )


def _model(name: str, source: str, placements: tuple[PlacementIR, ...]) -> ModelIR:
    return ModelIR(
        name=name,
        served_name=name,
        source=source,
        source_scheme="s3" if source.startswith("s3://") else "hf",
        revision="0e9e39f249a16976918f6564b8830bc894c89659" if source.startswith("hf") else None,
        architecture=ArchitectureIR(
            params_b=8.03, layers=32, heads=32, kv_heads=8, head_dim=128, from_catalog=True
        ),
        engine=EngineIR(
            vllm_version="0.11.0",
            image="vllm/vllm-openai:v0.11.0",
            max_model_len=8192,
            dtype="bfloat16",
            quantization=None,
            kv_cache_dtype="auto",
            gpu_memory_utilization=0.9,
            max_num_seqs=256,
            flags=("--max-model-len", "8192"),
        ),
        gpus=1,
        tensor_parallel=1,
        nodes_per_replica=1,
        placements=placements,
        rollout=RolloutIR(
            strategy="canary",
            steps=(10, 50, 100),
            interval_seconds=300,
            analysis=AnalysisIR(max_error_rate=0.01, max_ttft_p95_seconds=1.5, min_requests=50),
        ),
        sizing=SizingIR(
            weights_gib=14.96,
            kv_cache_gib=1.0,
            activation_reserve_gib=1.5,
            needed_per_gpu_gib=17.46,
            usable_per_gpu_gib=43.2,
            gpus_derived=True,
        ),
        timing=TimingIR(
            startup_budget_seconds=900,
            pre_stop_seconds=10,
            shutdown_timeout_seconds=60,
            termination_grace_seconds=90,
        ),
    )


def deployment(
    cloud_traffic: str = "overflow",
    existing: str | None = None,
    clusters: str = "both",
    dns_zone: str | None = "example.com",
) -> Deployment:
    """The hybrid deployment; `cloud_traffic` is the role of llama-8b's cloud placement."""
    llama = _model(
        "llama-8b",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        (
            PlacementIR(pool="dc1/a100", cluster="dc1", min_replicas=2, max_replicas=2),
            PlacementIR(
                pool="cloud/l40s",
                cluster="cloud",
                min_replicas=0,
                max_replicas=6,
                traffic=cloud_traffic,  # type: ignore[arg-type]
            ),
        ),
    )
    mistral = _model(
        "mistral-7b",
        f"s3://{MODEL_BUCKET}/{MODEL_PREFIX}/",
        (
            PlacementIR(pool="dc1/a100", cluster="dc1", min_replicas=1, max_replicas=1),
            PlacementIR(
                pool="cloud/l40s",
                cluster="cloud",
                min_replicas=0,
                max_replicas=4,
                traffic="failover",
            ),
        ),
    )
    all_clusters = {"cloud": cloud_cluster(existing), "dc1": dc1_cluster()}
    chosen = tuple(all_clusters.values()) if clusters == "both" else (all_clusters[clusters],)
    models = tuple(
        m.model_copy(
            update={
                "placements": tuple(
                    p for p in m.placements if p.cluster in {c.name for c in chosen}
                )
            }
        )
        for m in (llama, mistral)
    )
    return Deployment(
        llmctl_version="0.1.0",
        name=NAME,
        state="file:///tmp/llmctl-state",
        labels={"team": "ml", "cost-center": "42"},
        clusters=chosen,
        models=models,
        gateway=GatewayIR(
            hostname="llm.example.com",
            dns_zone=dns_zone,
            api_keys_secret_env=API_KEYS_ENV,
            requests_per_minute=600,
            routes=(RouteIR(name="llama-8b", backends=(("llama-8b", 100),)),),
        ),
        prometheus_url="http://prometheus.monitoring:9090",
    )


def rendered_objects(namespace: str = NAMESPACE, gpus: int = 1) -> list[dict[str, Any]]:
    """Objects shaped like `llmctl render` output for one cluster: core kinds and CRD kinds."""
    labels = {"app.kubernetes.io/name": "llama-8b", "app.kubernetes.io/managed-by": "llmctl"}
    meta = {"namespace": namespace, "labels": labels}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "llmctl"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "llama-8b-serving", **meta},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "llama-8b-launcher", **meta},
            "data": {"flags.json": '["--max-model-len", "8192"]'},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llama-8b-a100", **meta},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "llama-8b"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "llama-8b-serving",
                        "terminationGracePeriodSeconds": 90,
                        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm/vllm-openai:v0.11.0",
                                "args": ["--max-model-len", "8192"],
                                "ports": [{"name": "http", "containerPort": 8000}],
                                "resources": {"limits": {"nvidia.com/gpu": gpus}},
                                "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "llama-8b", **meta},
            "spec": {
                "selector": {"app.kubernetes.io/name": "llama-8b"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "llama-8b", **meta},
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "llama-8b"}},
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "llama-8b", **meta},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "llama-8b"}},
                "policyTypes": ["Ingress"],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "llama-8b-a100", **meta},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "llama-8b-a100",
                },
                "minReplicas": 2,
                "maxReplicas": 2,
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "llmctl", **meta},
            "spec": {
                "gatewayClassName": "llmctl",
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "llama-8b", **meta},
            "spec": {
                "parentRefs": [{"name": "llmctl"}],
                "hostnames": ["llm.example.com"],
                "rules": [{"backendRefs": [{"name": "llama-8b", "port": 80, "weight": 100}]}],
            },
        },
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "SecurityPolicy",
            "metadata": {"name": "api-keys", **meta},
            "spec": {
                "targetRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "llmctl"}
                ],
                "apiKeyAuth": {
                    "credentialRefs": [{"group": "", "kind": "Secret", "name": f"{NAME}-api-keys"}],
                    "extractFrom": [{"headers": ["x-api-key"]}],
                },
            },
        },
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "BackendTrafficPolicy",
            "metadata": {"name": "rate-limit", **meta},
            "spec": {
                "targetRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "llmctl"}
                ]
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "llama-8b", **meta},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "llama-8b"}},
                "endpoints": [{"port": "http", "path": "/metrics"}],
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "llama-8b-l40s", **meta},
            "spec": {
                "scaleTargetRef": {"name": "llama-8b-l40s"},
                "minReplicaCount": 0,
                "maxReplicaCount": 6,
                "triggers": [],
            },
        },
    ]


def objects_by_cluster() -> dict[str, list[dict[str, Any]]]:
    """Rendered objects for both clusters."""
    return {"cloud": rendered_objects(), "dc1": rendered_objects()}


def of_type(resources: list[Any], type_: str) -> list[Any]:
    """The collected resources of one Pulumi type."""
    return [r for r in resources if r.type == type_]


def named(resources: list[Any], type_: str, name: str) -> Any:
    """The one collected resource with this type and logical name."""
    found = [r for r in resources if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)} found"
    return found[0]
