"""The serving config of one model: the JSON the launcher reads from /etc/llmctl/serving.json.

Built from the IR at compile/render time; not copied into the image (it imports llmctl.ir).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.serving.flags import validate_config

if TYPE_CHECKING:
    from llmctl.ir import ModelIR

CACHE_DIR = "/models"  # the cache volume the serving image makes writable for its user
WEIGHTS_DIR = "/weights"  # where a pvc:// source's claim is mounted, read-only
API_KEY_ENV = "VLLM_API_KEY"  # vLLM reads this variable itself
HF_TOKEN_ENV = "HF_TOKEN"  # huggingface_hub reads this variable itself


def serving_config(model: ModelIR, port: int = 8000) -> dict[str, Any]:
    """The launcher's config for `model`, validated against its pinned vLLM version."""
    engine = model.engine
    scheme = model.source_scheme
    load: dict[str, Any] = {
        "mode": {"s3": "stream", "hf": "download", "pvc": "local"}[scheme],
        "cache_dir": CACHE_DIR,
    }
    if scheme == "pvc":
        load["path"] = local_weights_path(model)
    deadline: dict[str, Any] = {}
    if model.timing.kill_after_seconds:
        # Absent for an IR stored before it existed: a rollback to such a revision runs its
        # older image, whose launcher would refuse the key (and defaults it the same way).
        deadline["kill_after_seconds"] = model.timing.kill_after_seconds
    room: dict[str, Any] = {}
    if engine.room_max_in_flight and engine.room_max_waiting:
        # Only when set: an older launcher (a rollback's image) does not know the key.
        room["room"] = {
            "max_in_flight": engine.room_max_in_flight,
            "max_waiting": engine.room_max_waiting,
        }
    group: dict[str, Any] = {}
    if model.group is not None:
        group["multi_node"] = {
            "nodes": model.group.size,
            "master_port": model.group.master_port,
        }
    config: dict[str, Any] = {
        "model": model.name,
        "served_name": model.served_name,
        # vLLM answers to every name in --served-model-name; the gateway's route names arrive as-is.
        "served_aliases": list(model.served_aliases),
        "source": model.source,
        # An s3:// prefix or a claim's path is pinned by its path; only hf:// has a commit.
        "revision": model.revision if scheme == "hf" else None,
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
        "load": load,
        **deadline,
        **room,
        **group,
    }
    validate_config(config)  # a bad value fails at compile time, not in a pod
    return config


def local_weights_path(model: ModelIR) -> str:
    """Where vLLM reads a pvc:// model: the claim's mount plus the path inside the claim."""
    inside = model.source.removeprefix("pvc://").partition("/")[2].strip("/")
    return f"{WEIGHTS_DIR}/{inside}" if inside else WEIGHTS_DIR


def weights_claim(model: ModelIR) -> str | None:
    """The PersistentVolumeClaim a pvc:// model's weights are on; None for other sources."""
    if model.source_scheme != "pvc":
        return None
    return model.source.removeprefix("pvc://").partition("/")[0]
