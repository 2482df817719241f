"""Models: architecture from the spec or the catalog, GPU fit and counts (SPEC rules 5-6),
engine flags for the pinned vLLM version, timings, and the nearest fix when a model does not fit."""

from __future__ import annotations

from llmctl import catalog, sizing
from llmctl.compile.findings import Findings
from llmctl.ir import (
    AnalysisIR,
    ArchitectureIR,
    AutoscalingIR,
    EngineIR,
    GatewayIR,
    GroupIR,
    ModelIR,
    PlacementIR,
    PoolIR,
    RolloutIR,
    SizingIR,
    TimingIR,
)
from llmctl.spec.model import Model, Spec
from llmctl.spec.source import Path_

# A multi-node replica's rendezvous port on its leader (torch.distributed's customary one).
GROUP_MASTER_PORT = 29500
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
PRE_STOP_SECONDS = 10  # endpoints leave the Service before vLLM stops taking requests
GRACE_MARGIN_SECONDS = 5  # the kubelet's SIGKILL comes after the launcher's own


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
            else f"{m.source.split(':', 1)[0]}:// sources have no catalog entry"
        )
        near = (
            catalog.close_matches(repo or "", [s.repo for s in catalog.model_shapes().values()])
            if repo
            else []
        )
        hint = "add architecture: {params_b, layers, heads, kv_heads, head_dim} from the model's config.json"
        if near:
            hint = f"did you mean hf://{near[0]}? otherwise {hint}"
        f.error((*path, "source"), f"model '{m.name}' needs `architecture`: {where}", hint)
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


def model_ir(
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
        if p.overflow_hours_per_month is not None and p.traffic != "overflow":
            f.error(
                (*path, "placements", pi, "overflow_hours_per_month"),
                f"overflow_hours_per_month is for `traffic: overflow` placements; {p.pool} is "
                f"{p.traffic}",
                "remove it, or make the placement `traffic: overflow`",
            )
        placements.append(
            (
                PlacementIR(
                    pool=p.pool,
                    cluster=pool.cluster,
                    min_replicas=p.min_replicas,
                    max_replicas=p.max_replicas,
                    traffic=p.traffic,
                    overflow_hours_per_month=p.overflow_hours_per_month or 0.0,
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
    group = None
    if nodes > 1:
        group = _group(f, m, path, arch, placements, gpus, derived)
        if group is None:
            return None
    scheme = m.source.split("://", 1)[0]
    if not _local_weights_ok(f, spec, m, path, placements):
        return None
    shutdown = m.engine.shutdown_timeout_seconds
    # Pod time from deletion: preStop, then SIGTERM: vLLM drains for `shutdown`, the launcher
    # kills at `kill_after`, the kubelet at the grace period; each strictly after the one before.
    kill_after = shutdown + vllm_flags.KILL_MARGIN_SECONDS
    grace = PRE_STOP_SECONDS + kill_after + GRACE_MARGIN_SECONDS
    vllm = m.engine.vllm_version
    engine = EngineIR(
        vllm_version=vllm,
        image=vllm_flags.base_image(vllm),
        image_kind=m.engine.image,
        compile_cache_claim=m.engine.compile_cache.removeprefix("pvc://")
        if m.engine.compile_cache
        else None,
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
        source_scheme=scheme,
        revision=m.revision,
        architecture=arch,
        engine=engine,
        gpus=gpus,
        tensor_parallel=tp,
        nodes_per_replica=nodes,
        group=group,
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
            startup_budget_seconds=sizing.startup_budget_seconds(result.weights_gib, scheme),
            pre_stop_seconds=PRE_STOP_SECONDS,
            shutdown_timeout_seconds=shutdown,
            kill_after_seconds=kill_after,
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
    from llmctl.serving.accepted import unknown_flags

    unknown = unknown_flags(vllm, m.engine.extra_args)
    if unknown:
        f.warn(
            (*path, "engine", "extra_args"),
            f"vLLM {vllm} has no {', '.join(unknown)} (per its own argument definitions): "
            "the replica would exit at start with vLLM's usage error",
            "check the spelling against `vllm serve --help` of that version",
        )
    return model.model_copy(update={"engine": engine.model_copy(update={"flags": flags})})


def _group(
    f: Findings,
    m: Model,
    path: Path_,
    arch: ArchitectureIR,
    placements: list[tuple[PlacementIR, PoolIR]],
    gpus: int,
    derived: bool,
) -> GroupIR | None:
    """The shape of a replica larger than a node (a LeaderWorkerSet group, one pod per node),
    or None after saying, located, why it cannot be placed."""
    from llmctl.serving import flags as vllm_flags

    before = len(f.errors)
    where = (*path, "placements") if derived else (*path, "gpus")
    per_nodes = sorted({pool.gpus_per_node for _, pool in placements})
    if len(per_nodes) > 1:
        f.error(
            where,
            f"model '{m.name}' needs {gpus} GPUs per replica, more than a node, on pools with "
            f"different GPUs per node ({', '.join(f'{p.key}: {p.gpus_per_node}' for _, p in placements)}); "
            "a multi-node replica needs the same node size on every placement",
            "place it only on pools whose nodes have the same number of GPUs",
        )
        return None
    per_node = per_nodes[0]
    nodes = gpus // per_node
    version = m.engine.vllm_version
    if version in vllm_flags.SUPPORTED_VERSIONS and not vllm_flags.supports_multi_node(version):
        f.error(
            (*path, "engine", "vllm_version"),
            f"model '{m.name}' needs {gpus} GPUs per replica, across {nodes} nodes of "
            f"{per_node} GPUs, and vLLM {version} runs a replica across nodes only with Ray "
            "(it has no --nnodes), which llmctl does not set up",
            f"use vllm_version {vllm_flags.DEFAULT_VERSION} (multi-node needs 0.11.2 or later)",
        )
    if arch.layers < nodes:
        f.error(
            where,
            f"model '{m.name}' has {arch.layers} layers, fewer than the {nodes} pipeline stages "
            f"of {gpus} GPUs on nodes of {per_node} GPUs",
            "use fewer GPUs per replica, or a pool with more GPUs per node",
        )
    for pi, (placement, pool) in enumerate(placements):
        if pool.max_nodes < nodes:
            limit = "nodes" if pool.provider == "kubernetes" else "max_nodes"
            f.error(
                (*path, "placements", pi, "pool"),
                f"one replica of '{m.name}' is a group of {nodes} nodes ({gpus} GPUs, "
                f"{per_node} per node), but pool {pool.key} has {pool.max_nodes} "
                f"node{'s' if pool.max_nodes != 1 else ''}",
                f"raise the pool's {limit} to {nodes * max(placement.max_replicas, 1)} "
                f"({nodes} per replica), or place the model on a larger pool",
            )
    if len(f.errors) > before:
        return None
    return GroupIR(
        size=nodes,
        tensor_parallel=per_node,
        pipeline_parallel=nodes,
        master_port=GROUP_MASTER_PORT,
        lws_api_version=LWS_API_VERSION,
    )


def _local_weights_ok(
    f: Findings, spec: Spec, m: Model, path: Path_, placements: list[tuple[PlacementIR, PoolIR]]
) -> bool:
    """A pvc:// source: a clean path inside the claim, no revision, and clusters that can hold
    the claim (an EKS cluster llmctl creates starts with an empty namespace)."""
    if not m.source.startswith("pvc://"):
        return True
    before = len(f.errors)
    sub = m.source.removeprefix("pvc://").partition("/")[2]
    if any(part in (".", "..") for part in sub.split("/")):
        f.error((*path, "source"), f"pvc:// path '{sub}' must not contain '.' or '..' segments")
    if m.revision is not None:
        f.error(
            (*path, "revision"),
            "revision applies to hf:// sources only; a pvc:// path is pinned by its contents",
            "remove revision, or point source at a directory per revision",
        )
    created = {c.name for c in spec.clusters if c.aws is not None and c.aws.cluster.create}
    for pi, (placement, _) in enumerate(placements):
        if placement.cluster in created:
            f.error(
                (*path, "placements", pi, "pool"),
                f"model '{m.name}' loads weights from {m.source}, but cluster "
                f"'{placement.cluster}' is created by llmctl and has no such claim",
                "use an hf:// or s3:// source there, or place the model on an existing cluster",
            )
    return len(f.errors) == before


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
