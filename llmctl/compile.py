"""COMPILE: Spec -> Deployment IR. Pure: no I/O beyond the bundled catalog.

Resolves defaults and the catalog, checks every semantic rule of SPEC.md (references, catalog,
GPU fit, GPU counts, capacity, warnings) collecting all findings in one pass, and produces the
frozen IR. `validate` is compile without keeping the output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from llmctl import __version__, catalog, sizing
from llmctl.errors import Diagnostic, SpecInvalid
from llmctl.ir import (
    AnalysisIR,
    ArchitectureIR,
    AutoscalingIR,
    BudgetIR,
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
from llmctl.spec.model import Model, Pool, Spec
from llmctl.spec.source import Path_, SpecSource

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
PRE_STOP_SECONDS = 10  # endpoints leave the Service before vLLM stops taking requests
SHUTDOWN_TIMEOUT_SECONDS = 30  # in-flight requests drain
_PINNED = re.compile(r"^[0-9a-f]{40}$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class Findings:
    """Errors and warnings found while compiling, placed in the user's file."""

    source: SpecSource
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def _diag(self, path: Path_, message: str, hint: str, severity: str) -> Diagnostic:
        from llmctl.spec.source import format_path

        line, col = self.source.position(path)
        return Diagnostic(message, self.source.file, line, col, hint, severity, format_path(path))

    def error(self, path: Path_, message: str, hint: str = "") -> None:
        self.errors.append(self._diag(path, message, hint, "error"))

    def warn(self, path: Path_, message: str, hint: str = "") -> None:
        self.warnings.append(self._diag(path, message, hint, "warning"))


@dataclass(frozen=True)
class Compiled:
    """A compiled spec: the IR and the warnings that did not stop it."""

    deployment: Deployment
    warnings: list[Diagnostic]
    source: SpecSource


def compile_file(path: str | Path) -> Compiled:
    """LOAD + VALIDATE + COMPILE a spec file; raises SpecInvalid with every error found."""
    from llmctl.spec.loader import read_source, validate_structure

    source = read_source(path)
    spec, diags = validate_structure(source)
    if not diags and spec is not None:
        return compile_spec(spec, source)
    warnings: list[Diagnostic] = []
    if spec is not None:  # the file minus its broken keys: report the semantic errors too
        broken = [d.path for d in diags]
        try:
            warnings = compile_spec(spec, source).warnings
        except SpecInvalid as exc:
            diags += [
                d
                for d in exc.diagnostics
                if not any(d.path.startswith(b) or b.startswith(d.path) for b in broken)
            ]
            warnings = exc.warnings
    raise SpecInvalid(diagnostics=diags, warnings=warnings, source_text=source.text)


def compile_spec(spec: Spec, source: SpecSource) -> Compiled:
    """Spec -> Deployment; raises SpecInvalid with every semantic error of the spec."""
    f = Findings(source)
    _check_unique(f, [c.name for c in spec.clusters], ("clusters",), "cluster")
    _check_unique(f, [m.name for m in spec.models], ("models",), "model")
    for key, value in spec.labels.items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            f.error(
                ("labels", key),
                f"label {key}={value!r} is not a valid Kubernetes label value",
                "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
            )
    clusters = [_cluster(f, spec, i) for i in range(len(spec.clusters))]
    pools = {p.key: p for c in clusters for p in c.pools}
    gateway = _gateway(f, spec)
    models = [
        m for i in range(len(spec.models)) if (m := _model(f, spec, i, pools, gateway)) is not None
    ]
    _check_capacity(f, spec, models, pools)
    _warn_deployment(f, spec, models, pools)
    if f.errors:
        raise SpecInvalid(diagnostics=f.errors, warnings=f.warnings, source_text=source.text)
    deployment = Deployment(
        llmctl_version=__version__,
        name=spec.name,
        state=spec.state,
        labels=dict(spec.labels),
        clusters=tuple(clusters),
        models=tuple(models),
        gateway=gateway,
        prometheus_url=spec.monitoring.prometheus_url if spec.monitoring else None,
        budget=BudgetIR(monthly_usd=spec.budget.monthly_usd, on_exceed=spec.budget.on_exceed)
        if spec.budget
        else None,
    )
    return Compiled(deployment, f.warnings, source)


def _check_unique(f: Findings, names: list[str], path: Path_, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            f.error(
                (*path, i, "name"),
                f"{what} name '{name}' is used twice",
                f"{what} names must be unique",
            )
        seen.add(name)


def _cluster(f: Findings, spec: Spec, ci: int) -> ClusterIR:
    c = spec.clusters[ci]
    path: Path_ = ("clusters", ci)
    if (c.kubernetes is None) == (c.aws is None):
        f.error(
            path,
            f"cluster '{c.name}' needs exactly one of `kubernetes:` or `aws:`",
            "`kubernetes:` for an existing cluster, `aws:` for EKS",
        )
    _check_unique(f, [p.name for p in c.pools], (*path, "pools"), "pool")
    if c.aws is not None:
        aws = c.aws
        if aws.region not in catalog.regions():
            near = catalog.close_matches(aws.region, catalog.regions())
            f.error(
                (*path, "aws", "region"),
                f"unknown region '{aws.region}'",
                f"did you mean {' or '.join(repr(n) for n in near)}?"
                if near
                else f"the catalog prices: {', '.join(catalog.regions())}",
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
    )


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
        near = catalog.close_matches(pool.instance_type, list(catalog.instance_types()))
        f.error(
            (*path, "instance_type"),
            f"unknown GPU instance type '{pool.instance_type}'",
            f"did you mean {' or '.join(repr(n) for n in near)}?"
            if near
            else "see `llmctl catalog`",
        )
        return None
    region = cluster.aws.region if cluster.aws else ""
    price = it.price_usd_hour.get(region)
    if price is None and region in catalog.regions():
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
        near = catalog.close_matches(pool.gpu.model, list(catalog.gpu_models()))
        f.error(
            (*path, "gpu", "model"),
            f"unknown GPU model '{pool.gpu.model}'",
            f"did you mean {' or '.join(repr(n) for n in near)}?"
            if near
            else f"known: {', '.join(catalog.gpu_models())}",
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


def _architecture(f: Findings, m: Model, path: Path_) -> tuple[ArchitectureIR | None, int]:
    """The model's shape and its context length, from the spec or the catalog."""
    repo = m.source.removeprefix("hf://") if m.source.startswith("hf://") else None
    shape = catalog.find_model(repo) if repo else None
    if m.architecture is not None:
        a = m.architecture
        return ArchitectureIR(**a.model_dump()), shape.max_position_embeddings if shape else 0
    if shape is None:
        where = (
            f"'{repo}' is not in the bundled catalog"
            if repo
            else "s3:// sources have no catalog entry"
        )
        near = (
            catalog.close_matches(repo or "", [s.repo for s in catalog.model_shapes().values()])
            if repo
            else []
        )
        hint = "add architecture: {params_b, layers, heads, kv_heads, head_dim} from the model's config.json"
        if near:
            hint = f"did you mean hf://{near[0]}? otherwise {hint}"
        f.error((*path, "source"), f"models '{m.name}' needs `architecture`: {where}", hint)
        return None, 0
    arch = ArchitectureIR(
        params_b=shape.params_b,
        layers=shape.layers,
        heads=shape.heads,
        kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        from_catalog=True,
    )
    return arch, shape.max_position_embeddings


def _model(
    f: Findings, spec: Spec, mi: int, pools: dict[str, PoolIR], gateway: GatewayIR
) -> ModelIR | None:
    from llmctl.serving import flags as vllm_flags

    m = spec.models[mi]
    path: Path_ = ("models", mi)
    ok = True
    if m.engine.vllm_version not in vllm_flags.SUPPORTED_VERSIONS:
        f.error(
            (*path, "engine", "vllm_version"),
            f"vLLM {m.engine.vllm_version} is not supported",
            f"supported: {', '.join(vllm_flags.SUPPORTED_VERSIONS)}",
        )
        ok = False
    placements: list[tuple[PlacementIR, PoolIR]] = []
    seen: set[str] = set()
    for pi, p in enumerate(m.placements):
        ppath = (*path, "placements", pi, "pool")
        pool = pools.get(p.pool)
        if pool is None:
            declared = [f"{c.name}/{q.name}" for c in spec.clusters for q in c.pools]
            if p.pool not in declared:  # a declared but broken pool has its own error already
                near = catalog.close_matches(p.pool, declared, n=1)
                f.error(
                    ppath,
                    f"placement pool '{p.pool}' does not exist",
                    (f"did you mean '{near[0]}'? " if near else "")
                    + f"pools: {', '.join(declared)}",
                )
            ok = False
            continue
        if p.pool in seen:
            f.error(
                ppath, f"model '{m.name}' is placed on '{p.pool}' twice", "merge the two placements"
            )
        seen.add(p.pool)
        if p.min_replicas > p.max_replicas:
            f.error(
                (*path, "placements", pi, "replicas"),
                f"replicas min {p.min_replicas} > max {p.max_replicas}",
            )
        placements.append(
            (
                PlacementIR(
                    pool=p.pool,
                    cluster=pool.cluster,
                    min_replicas=p.min_replicas,
                    max_replicas=p.max_replicas,
                    traffic=p.traffic,
                ),
                pool,
            )
        )
    arch, context = _architecture(f, m, path)
    if arch is None or not placements or not ok:
        return None
    max_len = m.engine.max_model_len or (min(8192, context) if context else 8192)
    if context and max_len > context:
        f.error(
            (*path, "engine", "max_model_len"),
            f"max_model_len {max_len} exceeds the model's context of {context}",
            f"use at most {context}",
        )
    quant = None if m.engine.quantization == "none" else m.engine.quantization
    settings = sizing.EngineSettings(
        m.engine.dtype, quant, m.engine.kv_cache_dtype, m.engine.gpu_memory_utilization, max_len
    )
    shape = sizing.Shape(arch.params_b, arch.layers, arch.heads, arch.kv_heads, arch.head_dim)
    gpus = m.gpus
    if gpus is None:
        gpus = sizing.derive_gpus(
            shape, settings, [(p.gpu_memory_gib, p.gpus_per_node) for _, p in placements]
        )
        if gpus is None:
            biggest = max(placements, key=lambda pp: pp[1].gpus_per_node * pp[1].gpu_memory_gib)[1]
            need = sizing.fit(shape, settings, biggest.gpus_per_node, biggest.gpu_memory_gib)
            f.error(
                (*path, "placements"),
                f"model '{m.name}' fits no GPU count on its pools: even a whole node of "
                f"{biggest.key} {need.explain(biggest.gpu_model)}",
                _fit_hint(shape, settings, biggest),
            )
            return None
        derived = True
    else:
        derived = False
        for _, pool in placements:
            problem = sizing.gpu_count_problem(gpus, arch.heads, pool.gpus_per_node)
            if problem:
                f.error(
                    (*path, "gpus"),
                    f"{problem} (pool {pool.key}: {pool.gpus_per_node} GPUs per node)",
                    "use a divisor of the heads up to a node, or a multiple of the node's GPUs",
                )
                return None
            result = sizing.fit(shape, settings, gpus, pool.gpu_memory_gib)
            if not result.fits:
                f.error(
                    (*path, "gpus"),
                    f"model '{m.name}' does not fit on {pool.key}: {result.explain(pool.gpu_model)}",
                    _fit_hint(shape, settings, pool, gpus),
                )
                return None
    tightest = min((p for _, p in placements), key=lambda p: p.gpu_memory_gib)
    result = sizing.fit(shape, settings, gpus, tightest.gpu_memory_gib)
    per_node = min(p.gpus_per_node for _, p in placements)
    tp, nodes = (gpus, 1) if gpus <= per_node else (per_node, gpus // per_node)
    streamed = m.source.startswith("s3://")
    grace = PRE_STOP_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 15
    vllm = m.engine.vllm_version
    engine = EngineIR(
        vllm_version=vllm,
        image=vllm_flags.base_image(vllm),
        max_model_len=max_len,
        dtype=m.engine.dtype,
        quantization=quant,
        kv_cache_dtype=m.engine.kv_cache_dtype,
        gpu_memory_utilization=m.engine.gpu_memory_utilization,
        max_num_seqs=m.engine.max_num_seqs,
        extra_args=tuple(m.engine.extra_args),
    )
    r = m.rollout
    model = ModelIR(
        name=m.name,
        served_name=m.served_name or m.name,
        served_aliases=_route_aliases(gateway, m.name, m.served_name or m.name),
        source=m.source,
        source_scheme="s3" if streamed else "hf",
        revision=m.revision,
        architecture=arch,
        engine=engine,
        gpus=gpus,
        tensor_parallel=tp,
        nodes_per_replica=nodes,
        placements=tuple(p for p, _ in placements),
        autoscaling=AutoscalingIR(metric=m.autoscaling.metric, target=m.autoscaling.target)
        if m.autoscaling
        else None,
        rollout=RolloutIR(
            strategy=r.strategy,
            steps=tuple(r.steps),
            interval_seconds=_seconds(r.interval),
            analysis=AnalysisIR(**r.analysis.model_dump()),
        ),
        sizing=SizingIR(
            weights_gib=round(result.weights_gib, 3),
            kv_cache_gib=round(result.kv_cache_gib, 3),
            activation_reserve_gib=round(result.reserve_gib, 3),
            needed_per_gpu_gib=round(result.needed_per_gpu_gib, 3),
            usable_per_gpu_gib=round(result.usable_per_gpu_gib, 3),
            gpus_derived=derived,
        ),
        timing=TimingIR(
            startup_budget_seconds=sizing.startup_budget_seconds(result.weights_gib, streamed),
            pre_stop_seconds=PRE_STOP_SECONDS,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_SECONDS,
            termination_grace_seconds=grace,
        ),
        hf_token_secret=m.hf_token_secret,
    )
    _check_rollout(f, m, path)
    from llmctl.serving.config import serving_config

    try:
        flags = tuple(vllm_flags.build_serve_args(serving_config(model)))
    except ValueError as exc:
        where = "extra_args" if "extra_args" in str(exc) else "vllm_version"
        f.error((*path, "engine", where), f"engine settings rejected for vLLM {vllm}: {exc}")
        return None
    return model.model_copy(update={"engine": engine.model_copy(update={"flags": flags})})


def _route_aliases(gateway: GatewayIR, model: str, served_name: str) -> tuple[str, ...]:
    """Route names that reach `model` (as backend or fallback): vLLM must answer to them too."""
    names = [
        r.name
        for r in gateway.routes
        if r.name != served_name and (model in r.fallback or any(b == model for b, _ in r.backends))
    ]
    return tuple(dict.fromkeys(names))


def _fit_hint(
    shape: sizing.Shape, settings: sizing.EngineSettings, pool: PoolIR, gpus: int | None = None
) -> str:
    """The nearest fixes for a model that does not fit, each with its figures."""
    fixes = []
    more = sizing.derive_gpus(shape, settings, [(pool.gpu_memory_gib, pool.gpus_per_node)])
    if more:
        fixes.append(f"gpus: {more}")
    if settings.quantization is None:
        fp8 = sizing.EngineSettings(
            settings.dtype,
            "fp8",
            settings.kv_cache_dtype,
            settings.gpu_memory_utilization,
            settings.max_model_len,
        )
        g = gpus or more or pool.gpus_per_node
        r = sizing.fit(shape, fp8, g, pool.gpu_memory_gib)
        if r.fits:
            fixes.append(f"quantization: fp8 ({r.needed_per_gpu_gib:.1f} GiB per GPU at gpus: {g})")
    g = gpus or pool.gpus_per_node
    longest = sizing.longest_fitting_len(shape, settings, g, pool.gpu_memory_gib)
    if 1024 <= longest < settings.max_model_len:
        fixes.append(f"max_model_len: {longest} (at gpus: {g})")
    if not fixes:
        return "use a pool with larger GPUs, or a smaller or quantized model"
    return "try " + ", or ".join(fixes)


def _check_rollout(f: Findings, m: Model, path: Path_) -> None:
    steps = m.rollout.steps
    if m.rollout.strategy == "canary" and (steps != sorted(set(steps)) or steps[-1] != 100):
        f.error(
            (*path, "rollout", "steps"),
            f"canary steps {steps} must increase and end at 100",
            "e.g. [10, 50, 100]",
        )


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def canary_extra_replicas(model: ModelIR, placement: PlacementIR) -> int:
    """Replicas a canary adds on an active placement at its largest step below 100%."""
    if (
        model.rollout.strategy == "rolling"
        or placement.max_replicas == 0
        or placement.traffic != "active"
    ):
        return 0
    if model.rollout.strategy == "blue-green":
        return placement.max_replicas
    partial = [s for s in model.rollout.steps if s < 100] or [100]
    return max(1, math.ceil(placement.max_replicas * max(partial) / 100))


def _check_capacity(
    f: Findings, spec: Spec, models: list[ModelIR], pools: dict[str, PoolIR]
) -> None:
    """SPEC rule 7: the most replicas placed on each pool fit its nodes; canaries need room too."""
    index = {m.name: i for i, m in enumerate(spec.models)}
    for key, pool in pools.items():
        on_pool = [(m, p) for m in models for p in m.placements if p.pool == key]
        replicas = [m.gpus for m, p in on_pool for _ in range(p.max_replicas)]
        need = sizing.nodes_needed(replicas, pool.gpus_per_node)
        if need > pool.max_nodes:
            m0 = on_pool[0][0]
            pi = next(i for i, p in enumerate(m0.placements) if p.pool == key)
            what = ", ".join(f"{m.name} {p.max_replicas} x {m.gpus} GPU" for m, p in on_pool)
            limit = "nodes" if pool.provider == "kubernetes" else "max_nodes"
            f.error(
                ("models", index[m0.name], "placements", pi, "replicas"),
                f"pool {key} is too small: {what} need {need} nodes of {pool.gpus_per_node} GPUs, "
                f"the pool has {pool.max_nodes}",
                f"raise the pool's {limit} to {need}, or place fewer replicas",
            )
            continue
        extra = [m.gpus for m, p in on_pool for _ in range(canary_extra_replicas(m, p))]
        if extra and sizing.nodes_needed(replicas + extra, pool.gpus_per_node) > pool.max_nodes:
            names = ", ".join(sorted({m.name for m, p in on_pool if canary_extra_replicas(m, p)}))
            m0 = on_pool[0][0]
            f.warn(
                ("models", index[m0.name], "rollout"),
                f"pool {key} has no room for the canary replicas of {names} ({len(extra)} extra)",
                "raise the pool's size by the canary's replicas, or use `strategy: rolling`",
            )


def _gateway(f: Findings, spec: Spec) -> GatewayIR:
    g = spec.gateway
    names = {m.name for m in spec.models}
    if g.routes is None:
        routes = tuple(
            RouteIR(name=m.served_name or m.name, backends=((m.name, 100),)) for m in spec.models
        )
    else:
        _check_unique(f, [r.name for r in g.routes], ("gateway", "routes"), "route")
        for ri, r in enumerate(g.routes):
            for bi, b in enumerate(r.backends):
                if b.model not in names:
                    f.error(
                        ("gateway", "routes", ri, "backends", bi, "model"),
                        f"route backend '{b.model}' is not a model",
                        f"models: {', '.join(sorted(names))}",
                    )
            for fi, fb in enumerate(r.fallback):
                if fb not in names:
                    f.error(
                        ("gateway", "routes", ri, "fallback", fi),
                        f"route fallback '{fb}' is not a model",
                        f"models: {', '.join(sorted(names))}",
                    )
            if sum(b.weight for b in r.backends) == 0:
                f.error(
                    ("gateway", "routes", ri, "backends"),
                    f"route '{r.name}' has only weight-0 backends",
                )
        routes = tuple(
            RouteIR(
                name=r.name,
                backends=tuple((b.model, b.weight) for b in r.backends),
                fallback=tuple(r.fallback),
            )
            for r in g.routes
        )
    if g.dns_zone and not g.hostname:
        f.error(
            ("gateway", "dns_zone"),
            "dns_zone needs gateway.hostname",
            "e.g. hostname: llm.example.com",
        )
    elif (
        g.dns_zone
        and g.hostname
        and not (g.hostname == g.dns_zone or g.hostname.endswith("." + g.dns_zone))
    ):
        f.error(
            ("gateway", "hostname"), f"hostname {g.hostname} is not inside dns_zone {g.dns_zone}"
        )
    if g.dns_zone and not any(c.aws for c in spec.clusters):
        f.warn(
            ("gateway", "dns_zone"), "dns_zone uses Route 53: AWS credentials are needed at apply"
        )
    return GatewayIR(
        hostname=g.hostname,
        dns_zone=g.dns_zone,
        api_keys_secret_env=g.api_keys.secret_env if g.api_keys else None,
        requests_per_minute=g.rate_limit.requests_per_minute if g.rate_limit else None,
        routes=routes,
    )


def _warn_deployment(
    f: Findings, spec: Spec, models: list[ModelIR], pools: dict[str, PoolIR]
) -> None:
    """SPEC rule 10: warnings that never stop a plan."""
    by_name = {m.name: m for m in models}
    for mi, m in enumerate(spec.models):
        path: Path_ = ("models", mi)
        if m.source.startswith("hf://") and not (m.revision and _PINNED.match(m.revision)):
            repo = m.source.removeprefix("hf://")
            f.warn(
                (*path, "revision") if m.revision else (*path, "source"),
                f"models[{mi}].revision is not pinned; a rollback could fetch other weights",
                f"pin `revision:` to a commit of {repo}",
            )
        ir = by_name.get(m.name)
        if ir is None:
            continue
        keys = [p.pool for p in ir.placements]
        if len(keys) == 1 and pools[keys[0]].capacity == ("spot",):
            f.warn(
                (*path, "placements"),
                f"model '{m.name}' runs only on spot pool {keys[0]}; a spot reclaim stops it",
                "add an on-demand fallback (capacity: [spot, on-demand]) or another placement",
            )
        active_min = sum(p.min_replicas for p in ir.placements if p.traffic != "failover")
        if active_min <= 1 and not any(p.traffic == "failover" for p in ir.placements):
            f.warn(
                (*path, "placements"),
                f"model '{m.name}' has a single replica and no failover",
                "use replicas: 2 or more, or add a `traffic: failover` placement",
            )
        for pi, p in enumerate(ir.placements):
            if p.min_replicas == 0 and p.traffic == "failover":
                f.warn(
                    (*path, "placements", pi, "replicas"),
                    f"failover placement {p.pool} of '{m.name}' starts no replica by itself",
                    "set replicas min: 1 for a warm standby that DNS failover can send traffic to",
                )
            elif p.min_replicas == 0 and p.traffic == "overflow" and spec.monitoring is None:
                f.warn(
                    (*path, "placements", pi, "replicas"),
                    f"overflow placement {p.pool} of '{m.name}' cannot scale up from 0 replicas",
                    "set monitoring.prometheus_url: KEDA scales it on the model's queue",
                )
        if m.rollout.strategy != "rolling" and spec.monitoring is None:
            f.warn(
                (*path, "rollout"),
                f"model '{m.name}' uses a {m.rollout.strategy} rollout but monitoring is not set",
                "set monitoring.prometheus_url so rollouts can be analysed",
            )
