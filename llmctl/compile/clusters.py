"""Clusters and pools, resolved against the catalog (SPEC rule 9) into ClusterIR / PoolIR."""

from __future__ import annotations

from typing import Any

from llmctl import catalog
from llmctl.compile.addons import cluster_addons, env_overrides
from llmctl.compile.findings import Findings, check_unique
from llmctl.ir import (
    ClusterIR,
    PoolIR,
)
from llmctl.spec.model import Cluster, Pool, Spec
from llmctl.spec.source import Path_

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def cluster_ir(f: Findings, spec: Spec, ci: int) -> ClusterIR:
    c = spec.clusters[ci]
    path: Path_ = ("clusters", ci)
    overrides = env_overrides()
    if (c.kubernetes is None) == (c.aws is None):
        both = c.kubernetes is not None
        f.error(
            path,
            f"cluster '{c.name}' "
            + ("has both `kubernetes:` and `aws:`" if both else "needs `kubernetes:` or `aws:`"),
            ("keep one: " if both else "add one: ")
            + "`kubernetes:` for a cluster you run, `aws:` for EKS",
        )
        if both:
            # Which pool fields are misplaced depends on the one the user meant: report only
            # the root cause, and compile the pools as what they look like.
            f = Findings(f.source)
            looks_aws = any(p.instance_type for p in c.pools)
            c = c.model_copy(update={"kubernetes": None} if looks_aws else {"aws": None})
    check_unique(f, [p.name for p in c.pools], (*path, "pools"), "pool")
    if c.aws is not None:
        aws = c.aws
        known = list(catalog.aws_regions())
        if aws.region not in known:
            f.error(
                (*path, "aws", "region"),
                f"unknown region '{aws.region}': not an AWS Region that offers GPU instances",
                catalog.did_you_mean(aws.region, known, f"known: {', '.join(known)}"),
            )
        if aws.cluster.create == bool(aws.cluster.existing):
            f.error(
                (*path, "aws", "cluster"),
                "aws.cluster needs either `create: true` or `existing: NAME`",
            )
        pools = tuple(_aws_pool(f, spec, ci, pi) for pi in range(len(c.pools)))
        return ClusterIR(
            name=c.name,
            provider="aws",
            namespace=aws.namespace or spec.name,
            region=aws.region,
            create=aws.cluster.create,
            existing=aws.cluster.existing,
            version=aws.cluster.version,
            pools=tuple(p for p in pools if p),
            addons=cluster_addons(f, c, "aws", path, overrides),
            **_compile_cache(c),
        )
    k8s = c.kubernetes
    pools = tuple(_k8s_pool(f, spec, ci, pi) for pi in range(len(c.pools)))
    return ClusterIR(
        name=c.name,
        provider="kubernetes",
        namespace=(k8s.namespace if k8s else None) or spec.name,
        context=k8s.context if k8s else None,
        kubeconfig=k8s.kubeconfig if k8s else None,
        pools=tuple(p for p in pools if p),
        addons=cluster_addons(f, c, "kubernetes", path, overrides),
        **_compile_cache(c),
    )


def _compile_cache(c: Cluster) -> dict[str, Any]:
    """ClusterIR fields of the cluster's shared compile cache, when it declares one."""
    cache = c.compile_cache
    if cache is None:
        return {}
    return {"compile_cache_class": cache.storage_class, "compile_cache_gib": cache.size_gib}


def _misplaced(f: Findings, path: Path_, pool: Pool, fields: tuple[str, ...], kind: str) -> None:
    for name in fields:
        if name in pool.model_fields_set:
            f.error(
                (*path, name),
                f"`{name}` is for {kind} pools",
                f"remove it, or move the pool to a {kind} cluster",
            )


def _aws_pool(f: Findings, spec: Spec, ci: int, pi: int) -> PoolIR | None:
    cluster, pool = spec.clusters[ci], spec.clusters[ci].pools[pi]
    path: Path_ = ("clusters", ci, "pools", pi)
    _misplaced(f, path, pool, ("node_selector", "gpu", "nodes", "gpu_hour_usd"), "kubernetes")
    if not pool.instance_type:
        f.error(
            path,
            f"pool '{pool.name}' of an aws cluster needs `instance_type`",
            "e.g. instance_type: g6e.xlarge",
        )
        return None
    it = catalog.instance_types().get(pool.instance_type)
    if it is None:
        families = sorted({name.split(".")[0] for name in catalog.instance_types()})
        f.error(
            (*path, "instance_type"),
            f"unknown GPU instance type '{pool.instance_type}'",
            catalog.did_you_mean(
                pool.instance_type,
                list(catalog.instance_types()),
                f"the catalog has sizes of: {', '.join(families)}",
            ),
        )
        return None
    region = cluster.aws.region if cluster.aws else ""
    price = it.price_usd_hour.get(region)
    if price is None and region in catalog.aws_regions() and region not in catalog.regions():
        f.warn(
            (*path, "instance_type"),
            f"no bundled price for {pool.instance_type} in {region} (bundled: "
            f"{', '.join(catalog.regions())}); until a live one is fetched, cost counts it as 0",
            "fetch live prices: `llmctl cost --refresh-prices` (AWS credentials; cached under "
            "$LLMCTL_HOME), then plan and cost use them",
        )
    elif price is None and region in catalog.regions():
        offered = ", ".join(sorted(it.price_usd_hour)) or "no region (not sold on-demand)"
        f.error(
            (*path, "instance_type"),
            f"{pool.instance_type} has no on-demand price in {region} in the catalog",
            f"it is offered in: {offered}",
        )
    min_nodes = pool.min_nodes if pool.min_nodes is not None else 0
    max_nodes = pool.max_nodes if pool.max_nodes is not None else max(1, min_nodes)
    if min_nodes > max_nodes:
        f.error((*path, "min_nodes"), f"min_nodes {min_nodes} is more than max_nodes {max_nodes}")
    capacity = tuple(pool.capacity or ["on-demand"])
    if len(set(capacity)) != len(capacity):
        f.error((*path, "capacity"), "capacity lists a value twice")
    labels = {"llmctl.dev/pool": pool.name, "llmctl.dev/gpu": it.gpu}
    return PoolIR(
        key=f"{cluster.name}/{pool.name}",
        cluster=cluster.name,
        name=pool.name,
        provider="aws",
        gpu_model=it.gpu,
        gpu_memory_gib=it.gpu_memory_gib,
        gpus_per_node=it.gpus,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        instance_type=it.name,
        capacity=capacity,
        disk_gb=pool.disk_gb,
        node_selector={"llmctl.dev/pool": pool.name},
        node_labels=labels,
        taints=(GPU_TAINT,),
        node_hour_usd=price,
        spot_node_hour_usd=it.spot_usd_hour.get(region),
        node_vcpus=it.vcpus,
        node_memory_gib=it.memory_gib,
        efa_per_node=it.efa_interfaces,
    )


def _k8s_pool(f: Findings, spec: Spec, ci: int, pi: int) -> PoolIR | None:
    cluster, pool = spec.clusters[ci], spec.clusters[ci].pools[pi]
    path: Path_ = ("clusters", ci, "pools", pi)
    _misplaced(f, path, pool, ("instance_type", "capacity", "min_nodes", "max_nodes"), "aws")
    if pool.gpu is None or pool.nodes is None:
        missing = " and ".join(n for n in ("gpu", "nodes") if getattr(pool, n) is None)
        f.error(
            path,
            f"pool '{pool.name}' of an existing cluster needs {missing}",
            "e.g. gpu: {model: A100-80GB, per_node: 8} and nodes: 4",
        )
        return None
    gpu = catalog.find_gpu(pool.gpu.model)
    if gpu is None:
        f.error(
            (*path, "gpu", "model"),
            f"unknown GPU model '{pool.gpu.model}'",
            catalog.did_you_mean(
                pool.gpu.model,
                list(catalog.gpu_models()),
                f"known: {', '.join(catalog.gpu_models())}",
            ),
        )
        return None
    selector = dict(pool.node_selector or {})
    if not selector:
        selector = {"nvidia.com/gpu.product": gpu.aliases[0] if gpu.aliases else gpu.name}
    node_hour = pool.gpu_hour_usd * pool.gpu.per_node if pool.gpu_hour_usd is not None else None
    return PoolIR(
        key=f"{cluster.name}/{pool.name}",
        cluster=cluster.name,
        name=pool.name,
        provider="kubernetes",
        gpu_model=gpu.name,
        gpu_memory_gib=gpu.memory_gib,
        gpus_per_node=pool.gpu.per_node,
        min_nodes=pool.nodes,
        max_nodes=pool.nodes,
        node_selector=selector,
        node_hour_usd=node_hour,
    )
