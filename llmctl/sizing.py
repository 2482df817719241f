"""Sizing (SPEC rules 5-7): does a replica fit on its GPUs, how many GPUs it needs, pool capacity.

All figures in GiB. The activation reserve covers CUDA graphs, activations and the gap between a
GPU's nominal memory and what the driver reports: 1 GiB + 5% of the GPU's memory, per GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1024**3
MAX_NODES_PER_REPLICA = 8


@dataclass(frozen=True)
class Shape:
    """What sizing needs to know of a model."""

    params_b: float
    layers: int
    heads: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class EngineSettings:
    dtype: str  # auto | bfloat16 | float16
    quantization: str | None  # None | fp8 | awq | gptq
    kv_cache_dtype: str  # auto | fp8
    gpu_memory_utilization: float
    max_model_len: int


@dataclass(frozen=True)
class Fit:
    """The GPU-fit arithmetic for one replica on one GPU model."""

    gpus: int
    weights_gib: float
    kv_cache_gib: float
    reserve_gib: float
    needed_per_gpu_gib: float
    usable_per_gpu_gib: float

    @property
    def fits(self) -> bool:
        return self.needed_per_gpu_gib <= self.usable_per_gpu_gib

    def explain(self, gpu_name: str) -> str:
        """The numbers, as shown in an error."""
        return (
            f"needs {self.needed_per_gpu_gib:.1f} GiB per GPU (weights {self.weights_gib:.1f} GiB / {self.gpus}"
            f" + KV cache {self.kv_cache_gib:.2f} GiB / {self.gpus} + reserve {self.reserve_gib:.1f} GiB)"
            f" but {gpu_name} offers {self.usable_per_gpu_gib:.1f} GiB at this gpu_memory_utilization"
        )


def weight_bytes_per_param(dtype: str, quantization: str | None) -> float:
    """Bytes per parameter after quantization (4-bit formats carry ~10% of scales and zeros)."""
    if quantization == "fp8":
        return 1.0
    if quantization in ("awq", "gptq"):
        return 0.55
    return 2.0  # bfloat16 / float16; `auto` loads checkpoints in their 16-bit dtype


def kv_bytes(engine: EngineSettings) -> float:
    return 1.0 if engine.kv_cache_dtype == "fp8" else 2.0


def fit(shape: Shape, engine: EngineSettings, gpus: int, gpu_memory_gib: float) -> Fit:
    """Per-GPU memory need of one replica on `gpus` GPUs of `gpu_memory_gib` each (SPEC rule 5)."""
    weights = shape.params_b * 1e9 * weight_bytes_per_param(engine.dtype, engine.quantization) / GIB
    kv = (
        2
        * shape.layers
        * shape.kv_heads
        * shape.head_dim
        * kv_bytes(engine)
        * engine.max_model_len
        / GIB
    )
    reserve = 1.0 + 0.05 * gpu_memory_gib
    needed = weights / gpus + kv / gpus + reserve
    usable = engine.gpu_memory_utilization * gpu_memory_gib
    return Fit(gpus, weights, kv, reserve, needed, usable)


def gpu_count_problem(gpus: int, heads: int, per_node: int) -> str | None:
    """SPEC rule 6: why `gpus` cannot serve this model on nodes of `per_node` GPUs, or None."""
    if heads % gpus and not (gpus > per_node and gpus % per_node == 0 and heads % per_node == 0):
        return f"gpus {gpus} does not divide the {heads} attention heads"
    if gpus > per_node and gpus % per_node:
        return f"gpus {gpus} is more than the {per_node} GPUs of a node and not a multiple of it"
    return None


def candidate_gpu_counts(per_node: int) -> list[int]:
    """GPU counts worth trying: powers of two up to a node, then whole nodes."""
    counts = [g for g in (1, 2, 4, 8, 16) if g <= per_node]
    counts += [per_node * n for n in range(2, MAX_NODES_PER_REPLICA + 1)]
    return sorted(set(counts))


def derive_gpus(shape: Shape, engine: EngineSettings, pools: list[tuple[float, int]]) -> int | None:
    """Smallest GPU count that fits on every pool (gpu_memory_gib, per_node) and divides the heads."""
    per_nodes = {p for _, p in pools}
    candidates = sorted(set.intersection(*(set(candidate_gpu_counts(p)) for p in per_nodes)))
    for g in candidates:
        if any(gpu_count_problem(g, shape.heads, p) for p in per_nodes):
            continue
        if all(fit(shape, engine, g, mem).fits for mem, _ in pools):
            return g
    return None


def longest_fitting_len(
    shape: Shape, engine: EngineSettings, gpus: int, gpu_memory_gib: float
) -> int:
    """Largest max_model_len (a multiple of 1024) that fits at `gpus`, 0 when even the weights do not."""
    per_token = fit(
        shape,
        EngineSettings(
            engine.dtype,
            engine.quantization,
            engine.kv_cache_dtype,
            engine.gpu_memory_utilization,
            1,
        ),
        gpus,
        gpu_memory_gib,
    )
    base = per_token.weights_gib / gpus + per_token.reserve_gib
    room = per_token.usable_per_gpu_gib - base
    if room <= 0:
        return 0
    tokens = room / (per_token.kv_cache_gib / gpus)
    return int(tokens // 1024) * 1024


def nodes_needed(replica_gpus: list[int], per_node: int) -> int:
    """Nodes needed to place replicas of the given GPU counts (first-fit decreasing)."""
    free: list[int] = []
    nodes = 0
    for g in sorted(replica_gpus, reverse=True):
        if g >= per_node:
            nodes += math.ceil(g / per_node)
            continue
        for i, room in enumerate(free):
            if room >= g:
                free[i] -= g
                break
        else:
            free.append(per_node - g)
    return nodes + len(free)


def startup_budget_seconds(weights_gib: float, streamed: bool) -> int:
    """Startup probe budget: a base for engine start and graph capture plus load time per GiB."""
    per_gib = 4 if streamed else 10  # streaming from S3 vs. download then load
    seconds = 180 + weights_gib * per_gib
    return int(math.ceil(seconds / 30) * 30)
