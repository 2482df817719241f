"""Output tokens per second of one replica, from the batch llmctl configures.

A decode step reads every weight once and, for each running sequence, its KV cache; it also does
the matrix work of one new token per sequence plus, amortized, the prefill of the prompts that
keep the batch full. So, for `batch` sequences on a replica of `gpus` GPUs:

    step = (weights + batch x context x KV bytes per token) / (MEMORY_EFFICIENCY x bandwidth)
         + batch x 2 x params x (1 + prompt / output) / (COMPUTE_EFFICIENCY x peak FLOPS)
    tokens/s = batch / step

with batch = min(max_num_seqs, the sequences whose KV cache fits next to the weights), context
the mean length during decode (prompt + output / 2), and the workload PROMPT_TOKENS in,
OUTPUT_TOKENS out per request. The two constants are calibrated on real vLLM 0.26.0 (one H200,
Llama-3.1-8B bf16, random weights, 512 in / 256 out, `vllm bench serve --ignore-eos`, the kit in
../shared/gpu), output tok/s at concurrency 1 / 32 / 256 over four runs: 204 / 4,585 / 10,970
and 202 / 4,441 / 10,280 (issue 11), 194 / - / 8,923 and - / 4,135 / 9,139 (2026-12-01, llmctl's
0.26.0 argv). Memory efficiency comes from concurrency 1 (weights-bound): 0.69 of peak
bandwidth. The compute term is fitted to the mean of the concurrency-256 runs (9,828), where
the prompts' prefill dominates; the two terms simply add (no overlap). The model gives 203 /
4,270 / 9,844 for that case: within 11% of every run at 256.

Not modelled: mixture-of-experts models reading only their active experts (they are costed as
dense, so their throughput comes out low), tensor-parallel communication, speculative decoding,
and prefix-cache hits.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmctl import catalog
from llmctl.ir import ModelIR, PoolIR
from llmctl.sizing import GIB

PROMPT_TOKENS = 512
OUTPUT_TOKENS = 256
MEMORY_EFFICIENCY = 0.69
COMPUTE_EFFICIENCY = 0.85


@dataclass(frozen=True)
class Throughput:
    """The estimate for one replica, with the batch it assumes."""

    tokens_per_second: float
    concurrency: int  # sequences decoded together: min(max_num_seqs, kv_fit_sequences)
    max_num_seqs: int
    kv_fit_sequences: int  # PROMPT_TOKENS + OUTPUT_TOKENS sequences the KV cache holds

    def describe(self) -> str:
        """How the figure was arrived at, for the cost output."""
        limit = (
            f"max_num_seqs {self.max_num_seqs}"
            if self.concurrency == self.max_num_seqs
            else f"the KV cache fits {self.kv_fit_sequences} sequences"
        )
        return (
            f"{self.tokens_per_second:,.0f} output tok/s per replica at concurrency "
            f"{self.concurrency} ({limit}; {PROMPT_TOKENS} in / {OUTPUT_TOKENS} out per request)"
        )


def kv_bytes_per_token(model: ModelIR) -> float:
    """KV cache bytes of one token, whole replica: K and V of every layer."""
    a = model.architecture
    per_value = 1.0 if model.engine.kv_cache_dtype == "fp8" else 2.0
    return 2 * a.layers * a.kv_heads * a.head_dim * per_value


def kv_fit_sequences(model: ModelIR, pool: PoolIR) -> int:
    """Full-length sequences (prompt + output) whose KV cache fits beside the weights."""
    gpus = model.gpus
    usable = model.engine.gpu_memory_utilization * pool.gpu_memory_gib * gpus
    reserve = (1.0 + 0.05 * pool.gpu_memory_gib) * gpus  # as sizing's activation reserve
    room = (usable - model.sizing.weights_gib - reserve) * GIB
    per_sequence = kv_bytes_per_token(model) * (PROMPT_TOKENS + OUTPUT_TOKENS)
    return max(0, int(room // per_sequence))


def replica_throughput(
    model: ModelIR, pool: PoolIR, concurrency: int | None = None
) -> Throughput | None:
    """Output tokens/s of one replica of `model` on `pool` at `concurrency` (default: the batch
    llmctl configures); None when the pool's GPU has no bandwidth or FLOPS figure."""
    gpu = catalog.find_gpu(pool.gpu_model)
    weight_bytes = model.sizing.weights_gib * GIB
    if gpu is None or weight_bytes <= 0 or gpu.bf16_tflops <= 0:
        return None
    fits = kv_fit_sequences(model, pool)
    batch = min(model.engine.max_num_seqs, fits) if concurrency is None else concurrency
    batch = max(1, batch)
    context = PROMPT_TOKENS + OUTPUT_TOKENS / 2
    memory = (weight_bytes + batch * context * kv_bytes_per_token(model)) / (
        MEMORY_EFFICIENCY * gpu.bandwidth_gbps * 1e9 * model.gpus
    )
    fp8 = model.engine.quantization == "fp8" and gpu.fp8
    flops = batch * 2 * model.architecture.params_b * 1e9 * (1 + PROMPT_TOKENS / OUTPUT_TOKENS)
    compute = flops / (COMPUTE_EFFICIENCY * gpu.bf16_tflops * 1e12 * model.gpus * (2 if fp8 else 1))
    return Throughput(batch / (memory + compute), batch, model.engine.max_num_seqs, fits)
