"""Monitoring per cluster: the Prometheus each cluster's scalers read, whether llmctl installs
one into a cluster it creates, and what validate says when a cluster's metrics go nowhere.

A cluster's `monitoring.prometheus_url` defaults to the top-level one. KEDA runs in the cluster
of its ScaledObject, so an in-cluster name (`http://prometheus.monitoring:9090`) resolves there
only: an AWS cluster that inherits an in-cluster URL another cluster uses too can never read
that cluster's metrics, which is an error. An EKS cluster llmctl creates starts without a Prometheus; llmctl installs
kube-prometheus-stack there when a model placed there needs one (a canary or blue-green rollout,
autoscaling, or a placement scaling from zero), unless `install_prometheus: false`, which
validate warns about.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from llmctl.compile.findings import Findings
from llmctl.ir import ClusterIR, ModelIR, PlacementIR
from llmctl.spec.model import Spec
from llmctl.spec.source import Path_

# kube-prometheus-stack's Prometheus Service, with the release name and namespace stacks/ use.
INSTALLED_PROMETHEUS_URL = "http://kube-prometheus-stack-prometheus.monitoring:9090"


def in_cluster_host(url: str) -> bool:
    """True for a name only a cluster's own DNS answers: `svc`, `*.svc`, `*.cluster.local`, or a
    Service's short name (`prometheus`, `prometheus.monitoring`); not IPs or `localhost`."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    if host.endswith((".svc", ".cluster.local")) or ".svc." in host:
        return True
    return host.count(".") <= 1


def scales_from_zero(placement: PlacementIR) -> bool:
    """An overflow placement that starts at 0 replicas: KEDA starts it on the model's queue."""
    return (
        placement.traffic == "overflow"
        and placement.min_replicas == 0
        and placement.max_replicas > 0
    )


def _needs_prometheus(models: list[ModelIR], cluster: str) -> list[str]:
    """Why `cluster` needs a Prometheus: one reason per model placed there that reads one."""
    why = []
    for m in models:
        here = [p for p in m.placements if p.cluster == cluster]
        if not here:
            continue
        if m.rollout.strategy != "rolling":
            why.append(f"{m.name}: {m.rollout.strategy} rollout analysis")
        elif m.autoscaling is not None:
            why.append(f"{m.name}: autoscaling on {m.autoscaling.metric}")
        elif any(scales_from_zero(p) for p in here):
            why.append(f"{m.name}: KEDA scale-from-zero")
    return why


def with_cluster_monitoring(
    f: Findings, spec: Spec, clusters: list[ClusterIR], models: list[ModelIR]
) -> list[ClusterIR]:
    """Each cluster with its Prometheus URL and whether llmctl installs one; the findings."""
    top = spec.monitoring.prometheus_url if spec.monitoring else None
    index = {m.name: i for i, m in enumerate(spec.models)}
    urls = [
        (sc.monitoring.prometheus_url if sc.monitoring else None) or top for sc in spec.clusters
    ]
    out = []
    for ci, c in enumerate(clusters):
        sc = spec.clusters[ci]
        path: Path_ = ("clusters", ci)
        own = sc.monitoring.prometheus_url if sc.monitoring else None
        url = own or top
        asked = sc.monitoring.install_prometheus if sc.monitoring else None
        created = c.provider == "aws" and c.create
        why = _needs_prometheus(models, c.name)
        if asked and not created:
            f.error(
                (*path, "monitoring", "install_prometheus"),
                f"install_prometheus is for EKS clusters llmctl creates; '{c.name}' "
                + ("is adopted" if c.provider == "aws" else "is an existing cluster"),
                "install a Prometheus there yourself and set monitoring.prometheus_url",
            )
        install = created and (asked if asked is not None else bool(why))
        if created and asked is False and why:
            f.warn(
                (*path, "monitoring", "install_prometheus"),
                f"cluster '{c.name}' is created without a Prometheus, so its ServiceMonitor, "
                f"KEDA ScaledObjects and rollout analysis have nothing to read ({'; '.join(why)})",
                "remove `install_prometheus: false`, or install one and set "
                f"clusters[{ci}].monitoring.prometheus_url",
            )
        for m in models:
            for p in m.placements:
                if p.cluster != c.name or not scales_from_zero(p):
                    continue
                pi = m.placements.index(p)
                ppath: Path_ = ("models", index[m.name], "placements", pi, "replicas")
                if url is None:
                    f.warn(
                        ppath,
                        f"overflow placement {p.pool} of '{m.name}' cannot scale up from 0 replicas",
                        "set monitoring.prometheus_url: KEDA scales it on the model's queue",
                    )
                elif (
                    c.provider == "aws"
                    and own is None
                    and in_cluster_host(url)
                    and urls.count(url) > 1  # shared: the name is some other cluster's too
                ):
                    f.error(
                        ("monitoring", "prometheus_url"),
                        f"cluster '{c.name}' would scale {p.pool} of '{m.name}' from zero on "
                        f"{url}, an in-cluster name of another cluster: KEDA runs in "
                        f"'{c.name}' and cannot resolve it",
                        f"set clusters[{ci}].monitoring.prometheus_url to an address of that "
                        "Prometheus that the cluster can reach (an ingress or a VPN address, "
                        "e.g. https://prometheus.onprem.example.com)",
                    )
        out.append(c.model_copy(update={"prometheus_url": url, "install_prometheus": install}))
    return out
