"""Metrics objects: the ServiceMonitor that scrapes vLLM, and the HPA that scales on its metrics.

Scraping (prometheus-operator): one ServiceMonitor per cluster selects the serving Services of
the deployment and scrapes `/metrics` on port "http". Its relabelings are
`llmctl.metrics.SERVICE_MONITOR_RELABELINGS`, which copy the pod labels `llmctl.dev/model` and
`llmctl.dev/track` onto every series as `llmctl_model` and `track`, the labels rollout analysis
and cost queries select on. prometheus-operator adds `namespace`, `pod` and `service` itself.
A kube-prometheus-stack Prometheus only picks up ServiceMonitors that match its
`serviceMonitorSelector` (by default the Helm release label): set
`prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false`, or label it.

Autoscaling: an autoscaling/v2 HPA with one `Pods` metric, served through the custom metrics
API by prometheus-adapter. vLLM metric names contain ':', which the custom metrics API does not
allow, so the adapter renames them. The rules the adapter needs are `PROMETHEUS_ADAPTER_RULES`
(the `rules:` list of its config; the cluster stack installs them):

| llm.yaml metric    | vLLM series (0.10.2 and 0.11.0)             | custom metric                 |
| ------------------ | ------------------------------------------- | ----------------------------- |
| requests_waiting   | vllm:num_requests_waiting (gauge)           | vllm_num_requests_waiting     |
| kv_cache_usage     | vllm:kv_cache_usage_perc (gauge, 0..1)      | vllm_kv_cache_usage_perc      |
| ttft_p95           | vllm:time_to_first_token_seconds (histogram) | vllm_ttft_p95_seconds         |

`vllm:kv_cache_usage_perc` is the name both supported versions export (vLLM PR #18354, May
2025, added it and deprecated `vllm:gpu_cache_usage_perc`, which later releases stopped
exporting by default). The TTFT rule is a p95 over the last 2 minutes per pod.
"""

from __future__ import annotations

import copy
from typing import Any

from llmctl.compile.overflow import OVERFLOW_QUEUE_PER_REPLICA
from llmctl.ir import ClusterIR, Deployment, ModelIR, PlacementIR, PoolIR
from llmctl.metrics import SERVICE_MONITOR_RELABELINGS
from llmctl.render.kubernetes import (
    PORT_NAME,
    common_labels,
    k8s_name,
    scaler_prometheus_url,
    serving_selector,
    workload_name,
)

Obj = dict[str, Any]

# llm.yaml metric -> custom metric name served by prometheus-adapter.
HPA_METRICS = {
    "requests_waiting": "vllm_num_requests_waiting",
    "kv_cache_usage": "vllm_kv_cache_usage_perc",
    "ttft_p95": "vllm_ttft_p95_seconds",
}

_RESOURCES = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
PROMETHEUS_ADAPTER_RULES: tuple[Obj, ...] = (
    {
        "seriesQuery": 'vllm:num_requests_waiting{namespace!="",pod!=""}',
        "resources": _RESOURCES,
        "name": {"matches": "^vllm:num_requests_waiting$", "as": HPA_METRICS["requests_waiting"]},
        # vLLM exports one series per engine; a pod's queue is their sum.
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    },
    {
        "seriesQuery": 'vllm:kv_cache_usage_perc{namespace!="",pod!=""}',
        "resources": _RESOURCES,
        "name": {"matches": "^vllm:kv_cache_usage_perc$", "as": HPA_METRICS["kv_cache_usage"]},
        # A fraction: the fullest engine of a pod is what runs out first.
        "metricsQuery": "max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    },
    {
        "seriesQuery": 'vllm:time_to_first_token_seconds_bucket{namespace!="",pod!=""}',
        "resources": _RESOURCES,
        "name": {
            "matches": "^vllm:time_to_first_token_seconds_bucket$",
            "as": HPA_METRICS["ttft_p95"],
        },
        "metricsQuery": (
            "histogram_quantile(0.95, sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m]))"
            " by (le, <<.GroupBy>>))"
        ),
    },
)


def quantity(value: float) -> str:
    """`value` as a Kubernetes quantity: "5" for whole numbers, milli-units ("800m") otherwise."""
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def _scaler_of(
    deployment: Deployment, cluster: ClusterIR, model: ModelIR, pool: PoolIR
) -> tuple[Obj, Obj]:
    """Metadata and scaleTargetRef of an autoscaler (HPA or KEDA) of the stable Deployment."""
    name = workload_name(model, pool)
    selector = serving_selector(deployment, model.name, pool.name, "stable")
    meta = {
        "name": name,
        "namespace": cluster.namespace,
        "labels": {**common_labels(deployment), **selector},
    }
    if model.group is not None:  # a multi-node model: scale the LeaderWorkerSet's groups
        from llmctl.render.leaderworkerset import LWS_KIND, group_name

        target = {"apiVersion": model.group.lws_api_version, "kind": LWS_KIND}
        return meta, {**target, "name": group_name(model, pool.name)}
    return meta, {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}


def scaled_object(
    deployment: Deployment, cluster: ClusterIR, model: ModelIR, placement: PlacementIR, pool: PoolIR
) -> Obj:
    """A KEDA ScaledObject for an overflow placement that starts at 0 replicas (an HPA cannot
    scale from zero). It watches the model's queue as the cluster's Prometheus sees it (the
    cluster's `monitoring.prometheus_url`, else the top-level one: for a cloud cluster, the
    on-prem Prometheus at an address it can reach), and adds a replica per `threshold` waiting
    requests; it scales back to zero after 10 quiet minutes."""
    url = scaler_prometheus_url(deployment, cluster)
    assert url is not None
    meta, target = _scaler_of(deployment, cluster, model, pool)
    per_replica = (
        model.autoscaling.target
        if model.autoscaling is not None and model.autoscaling.metric == "requests_waiting"
        else OVERFLOW_QUEUE_PER_REPLICA
    )
    query = f'sum(vllm:num_requests_waiting{{llmctl_model="{model.name}"}})'
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": target,
            "minReplicaCount": 0,
            "maxReplicaCount": placement.max_replicas,
            "pollingInterval": 30,
            "cooldownPeriod": 600,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": url,
                        "query": query,
                        "threshold": quantity_plain(per_replica),
                        "activationThreshold": quantity_plain(per_replica),
                    },
                }
            ],
        },
    }


def quantity_plain(value: float) -> str:
    """KEDA takes thresholds as strings of plain numbers."""
    return f"{value:g}"


def hpa_object(
    deployment: Deployment, cluster: ClusterIR, model: ModelIR, placement: PlacementIR, pool: PoolIR
) -> Obj:
    """The autoscaling/v2 HPA of the stable track of `model` on `pool`."""
    assert model.autoscaling is not None
    meta, target = _scaler_of(deployment, cluster, model, pool)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": target,
            "minReplicas": placement.min_replicas,
            "maxReplicas": placement.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": HPA_METRICS[model.autoscaling.metric]},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": quantity(model.autoscaling.target),
                        },
                    },
                }
            ],
            # A new GPU replica takes minutes to load: add at most two per minute, and give load
            # back slowly so a short lull does not throw away a warm replica.
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 600,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                },
            },
        },
    }


def service_monitor_object(deployment: Deployment, cluster: ClusterIR) -> Obj:
    """The monitoring.coreos.com/v1 ServiceMonitor scraping every serving Service of the cluster."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": k8s_name(deployment.name, "vllm"),
            "namespace": cluster.namespace,
            "labels": common_labels(deployment),
        },
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "vllm",
                    "app.kubernetes.io/instance": deployment.name,
                }
            },
            "namespaceSelector": {"matchNames": [cluster.namespace]},
            "endpoints": [
                {
                    "port": PORT_NAME,
                    "path": "/metrics",
                    "interval": "15s",
                    "relabelings": copy.deepcopy(list(SERVICE_MONITOR_RELABELINGS)),
                }
            ],
        },
    }
