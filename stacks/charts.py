"""The Helm charts llmctl installs into a cluster, each pinned to one version.

A pin changes only with an llmctl release, so the same spec always installs the same software.
Versions were current for Kubernetes 1.33 when pinned; bump them together with a test run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmctl.ir import ClusterIR


@dataclass(frozen=True)
class ChartPin:
    """One chart at one version, and where its release lives."""

    release: str  # Helm release name (fixed, so other objects can name what it creates)
    chart: str  # chart name, or an oci:// reference
    version: str
    namespace: str
    repo: str | None = None  # classic Helm repository URL; None for oci:// charts


NVIDIA_DEVICE_PLUGIN = ChartPin(
    release="nvidia-device-plugin",
    chart="nvidia-device-plugin",
    version="0.17.4",
    namespace="kube-system",
    repo="https://nvidia.github.io/k8s-device-plugin",
)

CLUSTER_AUTOSCALER = ChartPin(
    release="cluster-autoscaler",
    chart="cluster-autoscaler",
    version="9.50.1",  # ships cluster-autoscaler 1.33.0; the image tag follows the cluster
    namespace="kube-system",
    repo="https://kubernetes.github.io/autoscaler",
)

ENVOY_GATEWAY = ChartPin(
    release="envoy-gateway",
    chart="oci://docker.io/envoyproxy/gateway-helm",
    version="v1.9.0",  # the CRDs the e2e installs and egctl translates against are v1.9.0's
    namespace="envoy-gateway-system",
)

KEDA = ChartPin(
    release="keda",
    chart="keda",
    version="2.17.0",
    namespace="keda",
    repo="https://kedacore.github.io/charts",
)

LWS = ChartPin(
    release="lws",
    chart="oci://registry.k8s.io/lws/charts/lws",
    version="0.8.0",  # = the Go module the e2e builds its controller and reads its CRD from
    namespace="lws-system",
)

# The AWS EFA device plugin (advertises vpc.amazonaws.com/efa), for EFA-capable pools that run
# multi-node models. Its DaemonSet is limited to those pools' nodes (aws_addons.py).
EFA_DEVICE_PLUGIN = ChartPin(
    release="efa-device-plugin",
    chart="aws-efa-k8s-device-plugin",
    version="v0.5.6",
    namespace="kube-system",
    repo="https://aws.github.io/eks-charts",
)

# prometheus-operator and a Prometheus, for an EKS cluster llmctl creates (ClusterIR
# .install_prometheus); its Prometheus Service is compile/monitoring.py's
# INSTALLED_PROMETHEUS_URL (release name + "-prometheus", namespace "monitoring").
KUBE_PROMETHEUS_STACK = ChartPin(
    release="kube-prometheus-stack",
    chart="kube-prometheus-stack",
    version="72.9.1",
    namespace="monitoring",
    repo="https://prometheus-community.github.io/helm-charts",
)
MONITORING_GROUP = "monitoring.coreos.com"

# Which chart provides the CRDs of an API group. monitoring.coreos.com belongs to the user's
# Prometheus operator, except on a cluster where llmctl installs one (`crd_provider`).
CRD_PROVIDERS: dict[str, ChartPin] = {
    "gateway.networking.k8s.io": ENVOY_GATEWAY,
    "gateway.envoyproxy.io": ENVOY_GATEWAY,
    "keda.sh": KEDA,
    "leaderworkerset.x-k8s.io": LWS,
}


def crd_provider(cluster: ClusterIR, group: str) -> ChartPin | None:
    """The pinned chart that provides API group `group`'s CRDs on `cluster`, if llmctl installs one."""
    if group == MONITORING_GROUP and cluster.install_prometheus:
        return KUBE_PROMETHEUS_STACK
    return CRD_PROVIDERS.get(group)


def kube_prometheus_stack_values() -> dict[str, object]:
    """A Prometheus and its operator only, picking up every ServiceMonitor (not only Helm's)."""
    return {
        "grafana": {"enabled": False},
        "alertmanager": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "retention": "15d",
            }
        },
    }


def addon_chart(cluster: ClusterIR, pin: ChartPin) -> ChartPin | None:
    """The chart to install for `pin` on `cluster`, from where the compiled addons say; None
    when the cluster already runs the component. An addon is named as its Helm release."""
    addon = cluster.addon(pin.release)
    if not addon.install:
        return None
    if addon.chart is None:
        return pin
    if addon.chart.startswith(("https://", "http://")):
        return replace(pin, repo=addon.chart, version=addon.version or pin.version)
    if addon.chart.startswith("oci://"):
        return replace(pin, chart=addon.chart, repo=None, version=addon.version or pin.version)
    # A local chart directory or archive: Helm reads its version from Chart.yaml.
    return replace(pin, chart=addon.chart, repo=None, version="")
