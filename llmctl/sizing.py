"""Sizing (SPEC rules 5-7): does a replica fit on its GPUs, how many GPUs it needs, pool capacity.

All figures in GiB. The activation reserve covers CUDA graphs, activations and the gap between a
GPU's nominal memory and what the driver reports: 1 GiB + 5% of the GPU's memory, per GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    if gpus > per_node and gpus % per_node:
        return f"gpus {gpus} is more than the {per_node} GPUs of a node and not a multiple of it"
    if heads % gpus and not (gpus > per_node and gpus % per_node == 0 and heads % per_node == 0):
        return f"gpus {gpus} does not divide the {heads} attention heads"
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


def nodes_needed(replicas: Iterable[tuple[int, int]], per_node: int) -> int:
    """Nodes needed to place replicas given as (GPUs per replica, count) (first-fit decreasing).

    Works on counts, never on one list item per replica: an absurd count costs no memory."""
    nodes = 0
    # Open nodes as [free GPUs, how many nodes have that much free], in the order they opened.
    free: list[list[int]] = []
    by_size: dict[int, int] = {}
    for g, count in replicas:
        if count > 0:
            by_size[g] = by_size.get(g, 0) + count
    for g in sorted(by_size, reverse=True):
        left = by_size[g]
        if g >= per_node:
            nodes += left * math.ceil(g / per_node)
            continue
        # First fit: identical replicas fill each open node in order, as many as it holds.
        i = 0
        while left and i < len(free):
            room, n = free[i]
            each = room // g
            if each == 0:
                i += 1
                continue
            full = min(n, left // each)
            rest = left - full * each if full < n else 0
            parts = [[room - each * g, full]] if full else []
            if full < n and rest:
                parts.append([room - rest * g, 1])
            untouched = n - full - (1 if full < n and rest else 0)
            if untouched:
                parts.append([room, untouched])
            left -= full * each + (rest if full < n else 0)
            free[i : i + 1] = parts
            i += len(parts)
        if left:
            each = per_node // g
            full, rest = divmod(left, each)
            if full:
                free.append([per_node - each * g, full])
            if rest:
                free.append([per_node - rest * g, 1])
    return nodes + sum(n for _, n in free)


# Cold start of vLLM on one replica, measured on vLLM 0.26.0 (H200, Llama-3.1-8B, weights
# loaded in 3 s): /health after 174 s and 230 s cold (engine init 147 s, of it torch.compile
# 28 s; the rest is kernel compile and warm-up), 60-67 s warm. Engine start plus a cold compile
# cover the 230 s with some room; warm caches only make the start shorter.
ENGINE_START_SECONDS = 60
COMPILE_SECONDS = 210
LOAD_SECONDS_PER_GIB = {"hf": 10, "s3": 4, "pvc": 3}  # download + load; stream; local read


def startup_budget_seconds(weights_gib: float, scheme: str) -> int:
    """Startup probe budget: engine start + a cold compile + loading the weights from `scheme`
    (hf, s3 or pvc), rounded up to 30 s. A warm compile cache only makes the start shorter."""
    seconds = ENGINE_START_SECONDS + COMPILE_SECONDS + weights_gib * LOAD_SECONDS_PER_GIB[scheme]
    return int(math.ceil(seconds / 30) * 30)
