"""serving_config(): the launcher's JSON, built from a ModelIR."""

from __future__ import annotations

from typing import Any

import pytest

from llmctl.ir import (
    AnalysisIR,
    ArchitectureIR,
    EngineIR,
    ModelIR,
    PlacementIR,
    RolloutIR,
    SizingIR,
    TimingIR,
)
from llmctl.serving.config import serving_config
from llmctl.serving.flags import build_serve_args

REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"


def model_ir(**overrides: Any) -> ModelIR:
    """A resolved ModelIR as compile would produce it."""
    engine = EngineIR(
        vllm_version="0.11.0",
        image="vllm/vllm-openai:v0.11.0",
        max_model_len=8192,
        dtype="bfloat16",
        quantization=None,
        kv_cache_dtype="auto",
        gpu_memory_utilization=0.9,
        max_num_seqs=256,
        extra_args=("--enable-prefix-caching",),
    )
    fields: dict[str, Any] = {
        "name": "llama-8b",
        "served_name": "llama-8b-chat",
        "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
        "source_scheme": "hf",
        "revision": REVISION,
        "architecture": ArchitectureIR(
            params_b=8.03, layers=32, heads=32, kv_heads=8, head_dim=128
        ),
        "engine": engine,
        "gpus": 2,
        "tensor_parallel": 2,
        "nodes_per_replica": 1,
        "placements": (
            PlacementIR(pool="dc1/a100", cluster="dc1", min_replicas=2, max_replicas=2),
        ),
        "rollout": RolloutIR(
            strategy="canary",
            steps=(10, 50, 100),
            interval_seconds=300,
            analysis=AnalysisIR(max_error_rate=0.01, max_ttft_p95_seconds=1.5, min_requests=50),
        ),
        "sizing": SizingIR(
            weights_gib=15.0,
            kv_cache_gib=1.0,
            activation_reserve_gib=2.0,
            needed_per_gpu_gib=10.0,
            usable_per_gpu_gib=72.0,
            gpus_derived=False,
        ),
        "timing": TimingIR(
            startup_budget_seconds=600,
            pre_stop_seconds=10,
            shutdown_timeout_seconds=45,
            kill_after_seconds=60,
            termination_grace_seconds=75,
        ),
    }
    fields.update(overrides)
    return ModelIR(**fields)


def test_hf_model() -> None:
    config = serving_config(model_ir(), port=8080)
    assert config == {
        "model": "llama-8b",
        "served_name": "llama-8b-chat",
        "served_aliases": [],
        "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
        "revision": REVISION,
        "vllm_version": "0.11.0",
        "tensor_parallel": 2,
        "pipeline_parallel": 1,
        "max_model_len": 8192,
        "dtype": "bfloat16",
        "quantization": None,
        "kv_cache_dtype": "auto",
        "gpu_memory_utilization": 0.9,
        "max_num_seqs": 256,
        "extra_args": ["--enable-prefix-caching"],
        "port": 8080,
        "shutdown_timeout_seconds": 45,
        "kill_after_seconds": 60,
        "api_key_env": "VLLM_API_KEY",
        "hf_token_env": None,
        "load": {"mode": "download", "cache_dir": "/models"},
    }
    assert build_serve_args(config)[0] == "meta-llama/Llama-3.1-8B-Instruct"


def test_s3_model_streams_and_drops_the_revision() -> None:
    model = model_ir(source="s3://acme-models/llama", source_scheme="s3", revision="ignored")
    config = serving_config(model)
    assert config["load"] == {"mode": "stream", "cache_dir": "/models"}
    assert config["revision"] is None and config["port"] == 8000
    assert "--load-format" in build_serve_args(config)


def test_pvc_model_reads_the_claim_mount_and_pins_nothing() -> None:
    model = model_ir(source="pvc://team-weights/llama/8b", source_scheme="pvc", revision=None)
    config = serving_config(model)
    assert config["load"] == {"mode": "local", "cache_dir": "/models", "path": "/weights/llama/8b"}
    assert config["revision"] is None
    assert build_serve_args(config)[0] == "/weights/llama/8b"


def test_an_ir_stored_before_the_kill_deadline_gets_the_launcher_default() -> None:
    timing = TimingIR(
        startup_budget_seconds=600,
        pre_stop_seconds=10,
        shutdown_timeout_seconds=30,
        termination_grace_seconds=55,
    )
    assert "kill_after_seconds" not in serving_config(model_ir(timing=timing))


def test_gated_repo_gets_the_hf_token_env_and_multi_node_pipelines() -> None:
    config = serving_config(model_ir(hf_token_secret="hf-token", nodes_per_replica=2, gpus=4))
    assert config["hf_token_env"] == "HF_TOKEN"
    assert config["pipeline_parallel"] == 2


def test_quantization_none_spelling_and_bad_engine_values() -> None:
    engine = model_ir().engine.model_copy(update={"quantization": "none"})
    assert serving_config(model_ir(engine=engine))["quantization"] is None
    bad = model_ir().engine.model_copy(update={"vllm_version": "0.3.0"})
    with pytest.raises(ValueError, match="not supported"):
        serving_config(model_ir(engine=bad))
