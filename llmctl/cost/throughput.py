"""Output tokens per second of one replica, from the batch llmctl configures.

A decode step has a fixed cost (scheduling, sampling, kernel launches), reads every weight once
and, for each running sequence, its KV cache, and does the matrix work of one new token per
sequence plus, amortized, the prefill of the prompts that keep the batch full. So, for `batch`
sequences on a replica of `gpus` GPUs:

    step = STEP_SECONDS
         + (weights + batch x context x KV bytes per token) / (MEMORY_EFFICIENCY x bandwidth)
         + batch x 2 x params x (1 + prompt / output) / (COMPUTE_EFFICIENCY x peak FLOPS)
    tokens/s = min(batch / step, SERVER_TOKENS_PER_SECOND)

with batch = min(max_num_seqs, the sequences whose KV cache fits next to the weights), context
the mean length during decode (prompt + output / 2), and the workload PROMPT_TOKENS in,
OUTPUT_TOKENS out per request. SERVER_TOKENS_PER_SECOND is a ceiling that is not the GPU's: one
replica's vLLM API server (and the client streaming from it) delivered about 15,000 streamed
output tok/s at concurrency 256 whether the model was Llama-3.2-1B (15,193; the GPU terms
allow 44,806) or -3B (15,635; 18,422). Whether the server or the benchmark client (one Python
process each) is the limit was not separated.

The three constants come from real vLLM 0.26.0 on one H200 (bf16, random weights, 512 in /
256 out, `vllm bench serve --ignore-eos`, the kit in ../shared/gpu) over four models of
different shape, output tok/s at concurrency 1 / 32 / 256:

    Llama-3.2-1B   535 / 11,617 / 15,193 (server-bound at 256)
    Llama-3.2-3B   360 /  7,463 / 15,635
    Llama-3.1-8B   194-204 / 4,135-4,585 / 8,923-10,970 (four runs)
    Qwen2.5-32B    52 /  1,247 /  2,836

fitted by least squares (relative error of the step time) to every point but the server-bound
one (`bench/throughput_fit.py` refits them): 1.3 ms per step, 0.87 of peak bandwidth, 0.76 of
peak FLOPS (prefill included). The model gives 524 / 13,494 / 15,000, 347 / 7,583 / 15,000,
191 / 4,082 / 9,589 and 58 / 1,201 / 2,717: every measured run within 17%. Fitted without one
model, that model's figures stay within 25% (worst: +24% for Llama-3.2-1B at 32, +23% for
Qwen2.5-32B at 1).

Not modelled: mixture-of-experts models reading only their active experts (they are costed as
dense, so their throughput comes out low), tensor-parallel communication, GPUs other than the
H200 (their bandwidth and FLOPS scale the terms; never measured), speculative decoding, and
prefix-cache hits.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmctl import catalog
from llmctl.ir import ModelIR, PoolIR
from llmctl.sizing import GIB

PROMPT_TOKENS = 512
OUTPUT_TOKENS = 256
STEP_SECONDS = 1.3e-3
MEMORY_EFFICIENCY = 0.87
COMPUTE_EFFICIENCY = 0.76
SERVER_TOKENS_PER_SECOND = 15_000.0


@dataclass(frozen=True)
class Throughput:
    """The estimate for one replica, with the batch it assumes."""

    tokens_per_second: float
    concurrency: int  # sequences decoded together: min(max_num_seqs, kv_fit_sequences)
    max_num_seqs: int
    kv_fit_sequences: int  # PROMPT_TOKENS + OUTPUT_TOKENS sequences the KV cache holds
    server_bound: bool = False  # the API server's streaming rate, not the GPU, is the limit

    def describe(self) -> str:
        """How the figure was arrived at, for the cost output."""
        limit = (
            f"max_num_seqs {self.max_num_seqs}"
            if self.concurrency == self.max_num_seqs
            else f"the KV cache fits {self.kv_fit_sequences} sequences"
        )
        bound = "; capped at what one vLLM API server streams" if self.server_bound else ""
        return (
            f"{self.tokens_per_second:,.0f} output tok/s per replica at concurrency "
            f"{self.concurrency} ({limit}{bound}; {PROMPT_TOKENS} in / {OUTPUT_TOKENS} out "
            "per request)"
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
    gpu_bound = batch / (STEP_SECONDS + memory + compute)
    return Throughput(
        min(gpu_bound, SERVER_TOKENS_PER_SECOND),
        batch,
        model.engine.max_num_seqs,
        fits,
        server_bound=gpu_bound > SERVER_TOKENS_PER_SECOND,
    )
