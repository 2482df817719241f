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
    version="v1.7.0",  # installs the Gateway API and gateway.envoyproxy.io CRDs
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

# Which chart provides the CRDs of an API group. A group missing here (monitoring.coreos.com)
# belongs to software the cluster already runs, e.g. the user's Prometheus operator.
CRD_PROVIDERS: dict[str, ChartPin] = {
    "gateway.networking.k8s.io": ENVOY_GATEWAY,
    "gateway.envoyproxy.io": ENVOY_GATEWAY,
    "keda.sh": KEDA,
    "leaderworkerset.x-k8s.io": LWS,
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
