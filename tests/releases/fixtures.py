"""Small Deployment IRs built by hand (the compiler is not there to make them yet)."""

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
from llmctl.release import Release, legacy_release

REV_A = "0e9e39f249a16976918f6564b8830bc894c89659"
REV_B = "1f2e3d4c5b6a79880123456789abcdef01234567"


def pool(cluster: str = "dc1", name: str = "a100", nodes: int = 4) -> PoolIR:
    """An on-prem pool of `nodes` 8x A100 nodes."""
    return PoolIR(
        key=f"{cluster}/{name}",
        cluster=cluster,
        name=name,
        provider="kubernetes",
        gpu_model="A100-80GB",
        gpu_memory_gib=80.0,
        gpus_per_node=8,
        min_nodes=nodes,
        max_nodes=nodes,
        node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        node_hour_usd=8.8,
    )


def model(
    name: str = "llama-8b",
    revision: str | None = REV_A,
    replicas: int = 2,
    pool_key: str = "dc1/a100",
    gpus: int = 1,
    max_model_len: int = 8192,
) -> ModelIR:
    """A resolved model with one placement of `replicas` fixed replicas."""
    cluster = pool_key.split("/")[0]
    return ModelIR(
        name=name,
        served_name=name,
        source="hf://meta-llama/Llama-3.1-8B-Instruct",
        source_scheme="hf",
        revision=revision,
        architecture=ArchitectureIR(params_b=8.03, layers=32, heads=32, kv_heads=8, head_dim=128),
        engine=EngineIR(
            vllm_version="0.11.0",
            image="vllm/vllm-openai:v0.11.0",
            max_model_len=max_model_len,
            dtype="bfloat16",
            quantization=None,
            kv_cache_dtype="auto",
            gpu_memory_utilization=0.9,
            max_num_seqs=256,
            flags=("--max-model-len", str(max_model_len), "--dtype", "bfloat16"),
        ),
        gpus=gpus,
        tensor_parallel=gpus,
        nodes_per_replica=1,
        placements=(
            PlacementIR(
                pool=pool_key, cluster=cluster, min_replicas=replicas, max_replicas=replicas
            ),
        ),
        rollout=RolloutIR(
            strategy="canary",
            steps=(10, 50, 100),
            interval_seconds=300,
            analysis=AnalysisIR(max_error_rate=0.01, max_ttft_p95_seconds=1.5, min_requests=50),
        ),
        sizing=SizingIR(
            weights_gib=14.96,
            kv_cache_gib=1.0,
            activation_reserve_gib=2.0,
            needed_per_gpu_gib=17.96,
            usable_per_gpu_gib=72.0,
            gpus_derived=False,
        ),
        timing=TimingIR(
            startup_budget_seconds=600,
            pre_stop_seconds=10,
            shutdown_timeout_seconds=30,
            termination_grace_seconds=60,
        ),
    )


def deployment(
    name: str = "support-bot",
    models: tuple[ModelIR, ...] | None = None,
    pools: tuple[PoolIR, ...] | None = None,
    routes: tuple[RouteIR, ...] = (),
    **overrides: Any,
) -> Deployment:
    """A one-cluster deployment; `models` and `pools` default to one llama-8b on dc1/a100."""
    return Deployment(
        llmctl_version="0.1.0",
        name=name,
        state="file:///tmp/unused",
        clusters=(
            ClusterIR(
                name="dc1",
                provider="kubernetes",
                namespace=name,
                context="dc1-admin",
                pools=pools if pools is not None else (pool(),),
            ),
        ),
        models=models if models is not None else (model(),),
        gateway=GatewayIR(hostname="llm.example.com", routes=routes),
        **overrides,
    )


SPEC_TEXT = """\
version: 1
name: support-bot
clusters:
  - name: dc1
    kubernetes: {context: dc1-admin}
    pools:
      - {name: a100, gpu: {model: A100-80GB, per_node: 8}, nodes: 4, gpu_hour_usd: 1.10}
models:
  - name: llama-8b
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    placements: [{pool: dc1/a100, replicas: 2}]
"""


def release_of(
    d: Deployment, tags: dict[str, str] | None = None, repository: str = "registry.local/vllm"
) -> Release:
    """The Release of `d`: llmctl's image in `repository`, tagged per model by `tags`."""
    return legacy_release(d, tags or {m.name: "t0" for m in d.models}, repository, "")
