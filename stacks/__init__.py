"""The Pulumi programs llmctl runs as inline programs: one stack per cluster, then the DNS stack.

- `<name>-<cluster>` for an AWS cluster (kind "aws-cluster"): network, EKS, node groups and IAM
  (aws_cluster, aws_addons) and everything inside the cluster (serving), in one stack, ordered
  with depends_on: control plane and system nodes, then add-ons, then the rendered objects.
- `<name>-<cluster>` for an existing Kubernetes cluster (kind "serving"): the rendered objects,
  through a kubernetes Provider built from the cluster's context and kubeconfig.
- `<name>-dns` (kind "dns") when `gateway.dns_zone` is set and there is more than one cluster:
  Route 53 over every cluster's gateway endpoint (dns).

Importing this package loads no Pulumi SDK; a program imports what it needs when it runs.
Each cluster stack exports `gateway_endpoint` (when it serves a Gateway), `cluster_name` (EKS)
and `image_repository` (the AWS cluster owning the region's ECR repository).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmctl.ir import ClusterIR, Deployment

StackKind = Literal["aws-cluster", "serving", "dns"]


@dataclass
class StackDef:
    """One stack: its name, the cluster it manages ("" for DNS), its kind and its program."""

    name: str
    cluster: str
    kind: StackKind
    program: Callable[[], None]


def stack_defs(
    deployment: Deployment,
    objects_by_cluster: Mapping[str, Sequence[Mapping[str, Any]]],
    endpoints: Mapping[str, str] | None = None,
    require_secrets: bool = True,
) -> list[StackDef]:
    """Every stack of the deployment, in apply order (clusters in spec order, then DNS).

    `endpoints` ({cluster: gateway address}) feeds the DNS stack; the engine passes the cluster
    stacks' `gateway_endpoint` outputs once they are applied. `require_secrets=False` lets a
    preview run without the API-key environment variable (an apply always needs it).
    """
    defs: list[StackDef] = []
    for cluster in deployment.clusters:
        objects = list(objects_by_cluster.get(cluster.name, ()))
        defs.append(
            StackDef(
                name=f"{deployment.name}-{cluster.name}",
                cluster=cluster.name,
                kind="aws-cluster" if cluster.provider == "aws" else "serving",
                program=_cluster_program(deployment, cluster, objects, require_secrets),
            )
        )
    if needs_dns_stack(deployment):
        found = dict(endpoints or {})
        defs.append(
            StackDef(
                name=f"{deployment.name}-dns",
                cluster="",
                kind="dns",
                program=lambda: _dns_program(deployment, found),
            )
        )
    return defs


def needs_dns_stack(deployment: Deployment) -> bool:
    """A `-dns` stack exists when a zone and hostname are set and there is more than one cluster."""
    gw = deployment.gateway
    return bool(gw.dns_zone and gw.hostname and len(deployment.clusters) > 1)


def _cluster_program(
    deployment: Deployment,
    cluster: ClusterIR,
    objects: list[Mapping[str, Any]],
    require_secrets: bool,
) -> Callable[[], None]:
    """The program of one cluster's stack, as a closure over its inputs."""
    if cluster.provider == "aws":
        return lambda: aws_cluster_program(deployment, cluster, objects, require_secrets)
    return lambda: kubernetes_cluster_program(deployment, cluster, objects, require_secrets)


def aws_cluster_program(
    deployment: Deployment,
    cluster: ClusterIR,
    objects: Sequence[Mapping[str, Any]],
    require_secrets: bool = True,
) -> None:
    """EKS and its node groups, the add-ons, IAM for the models, then the rendered objects."""
    import pulumi
    import pulumi_kubernetes as k8s

    from .aws_addons import (
        cluster_autoscaler,
        device_plugin,
        ecr_repository,
        efa_device_plugin,
        model_source_roles,
    )
    from .aws_cluster import build_eks

    eks = build_eks(deployment, cluster)
    provider = k8s.Provider(
        f"k8s-{cluster.name}",
        kubeconfig=eks.kubeconfig,
        opts=pulumi.ResourceOptions(depends_on=eks.ready),
    )
    k8s_opts = pulumi.ResourceOptions(provider=provider, depends_on=eks.ready)
    plugin = device_plugin(cluster, k8s_opts)
    efa_plugin = efa_device_plugin(cluster, k8s_opts)
    autoscaler = cluster_autoscaler(deployment, cluster, eks, k8s_opts)
    if _owns_registry(deployment, cluster):
        repo = ecr_repository(deployment, cluster, eks.provider)
        pulumi.export("image_repository", repo.repository_url)
    roles = model_source_roles(deployment, cluster, eks)
    # The serving objects wait for GPU capacity to be possible: node groups, device plugin,
    # autoscaler (a pool at min 0 only gets a node once it runs) and the models' IAM roles.
    deps = [
        *eks.ready,
        *eks.gpu_groups.values(),
        *([plugin] if plugin else []),
        *([efa_plugin] if efa_plugin else []),
        *autoscaler,
        *roles,
    ]
    _serve(deployment, cluster, objects, provider, deps, require_secrets)
    pulumi.export("cluster_name", eks.name)


def kubernetes_cluster_program(
    deployment: Deployment,
    cluster: ClusterIR,
    objects: Sequence[Mapping[str, Any]],
    require_secrets: bool = True,
) -> None:
    """The rendered objects, on an existing cluster reached through its kubeconfig context."""
    import pulumi_kubernetes as k8s

    kubeconfig = os.path.expanduser(cluster.kubeconfig) if cluster.kubeconfig else None
    provider = k8s.Provider(f"k8s-{cluster.name}", context=cluster.context, kubeconfig=kubeconfig)
    _serve(deployment, cluster, objects, provider, [], require_secrets)


def _serve(
    deployment: Deployment,
    cluster: ClusterIR,
    objects: Sequence[Mapping[str, Any]],
    provider: Any,
    deps: list[Any],
    require_secrets: bool,
) -> None:
    """Register the objects and the API-key Secrets; export the gateway's address."""
    import pulumi

    from .serving import (
        register_api_key_secrets,
        register_serving_objects,
        register_upstream_key_secret,
    )

    served = register_serving_objects(
        objects,
        cluster,
        provider=provider,
        depends_on=deps,
        wait_for_address=needs_dns_stack(deployment),
    )
    register_api_key_secrets(
        deployment,
        objects,
        cluster.namespace,
        provider=provider,
        depends_on=[*deps, *served.namespaces.values()],
        require=require_secrets,
        cluster=cluster.name,
    )
    if objects:
        register_upstream_key_secret(
            deployment,
            cluster.name,
            cluster.namespace,
            provider=provider,
            depends_on=[*deps, *served.namespaces.values()],
            require=require_secrets,
        )
    if served.gateway is not None:
        pulumi.export("gateway_endpoint", served.gateway.status.apply(_first_address))


def _first_address(status: Any) -> str | None:
    """The first address in a Gateway's status, once its load balancer has one."""
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses else None


def _owns_registry(deployment: Deployment, cluster: ClusterIR) -> bool:
    """The first AWS cluster of a region owns the region's ECR repository."""
    first = next(
        c for c in deployment.clusters if c.provider == "aws" and c.region == cluster.region
    )
    return first.name == cluster.name


def _dns_program(deployment: Deployment, endpoints: Mapping[str, str]) -> None:
    """The DNS stack's program."""
    from .dns import dns_program

    dns_program(deployment, endpoints)
