"""The serving config of one model: the JSON the launcher reads from /etc/llmctl/serving.json.

Built from the IR at compile/render time; not copied into the image (it imports llmctl.ir).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.serving.flags import validate_config

if TYPE_CHECKING:
    from llmctl.ir import ModelIR

CACHE_DIR = "/models"  # the cache volume the serving image makes writable for its user
API_KEY_ENV = "VLLM_API_KEY"  # vLLM reads this variable itself
HF_TOKEN_ENV = "HF_TOKEN"  # huggingface_hub reads this variable itself


def serving_config(model: ModelIR, port: int = 8000) -> dict[str, Any]:
    """The launcher's config for `model`, validated against its pinned vLLM version."""
    engine = model.engine
    is_s3 = model.source_scheme == "s3"
    config: dict[str, Any] = {
        "model": model.name,
        "served_name": model.served_name,
        # vLLM answers to every name in --served-model-name; the gateway's route names arrive as-is.
        "served_aliases": list(model.served_aliases),
        "source": model.source,
        # An s3:// prefix is pinned by its path; only hf:// has a commit to pin.
        "revision": None if is_s3 else model.revision,
        "vllm_version": engine.vllm_version,
        "tensor_parallel": model.tensor_parallel,
        # A replica spanning several nodes pipelines its layers across them.
        "pipeline_parallel": model.nodes_per_replica,
        "max_model_len": engine.max_model_len,
        "dtype": engine.dtype,
        "quantization": None if engine.quantization in (None, "none") else engine.quantization,
        "kv_cache_dtype": engine.kv_cache_dtype,
        "gpu_memory_utilization": engine.gpu_memory_utilization,
        "max_num_seqs": engine.max_num_seqs,
        "extra_args": list(engine.extra_args),
        "port": port,
        "shutdown_timeout_seconds": model.timing.shutdown_timeout_seconds,
        "api_key_env": API_KEY_ENV,
        "hf_token_env": HF_TOKEN_ENV if model.hf_token_secret else None,
        "load": {"mode": "stream" if is_s3 else "download", "cache_dir": CACHE_DIR},
    }
    validate_config(config)  # a bad value fails at compile time, not in a pod
    return config
