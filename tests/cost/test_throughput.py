"""The throughput model against what real vLLM measured (../shared/gpu kit, vLLM 0.26.0, one
H200, Llama-3.1-8B bf16, random weights, 512 in / 256 out, --ignore-eos). The measurements are
constants here: CI has no GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.compile import compile_file
from llmctl.cost.throughput import kv_fit_sequences, replica_throughput

SPEC = """\
version: 1
name: gpu-check
clusters:
  - name: lab
    kubernetes: {context: lab}
    pools:
      - name: h200
        gpu: {model: H200-141GB, per_node: 8}
        nodes: 1
        gpu_hour_usd: 3.5
models:
  - name: llama-8b
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: 0e9e39f249a16976918f6564b8830bc894c89659
    gpus: 1
    engine: {vllm_version: "0.26.0", max_num_seqs: MAX_NUM_SEQS}
    placements: [{pool: lab/h200, replicas: 1}]
    rollout: {strategy: rolling}
"""
# Output tok/s by concurrency, each run of the kit (issue 11's two, and 2026-12-01's two calls).
MEASURED = {1: (204, 202, 194), 32: (4585, 4441, 4135), 256: (10970, 10280, 8923, 9139)}


def _model(tmp_path: Path, max_num_seqs: int = 256):
    path = tmp_path / "llm.yaml"
    path.write_text(SPEC.replace("MAX_NUM_SEQS", str(max_num_seqs)))
    d = compile_file(path).deployment
    return d.models[0], d.pool("lab/h200")


@pytest.mark.parametrize("concurrency", sorted(MEASURED))
def test_within_25_percent_of_every_measured_run(tmp_path: Path, concurrency: int) -> None:
    model, pool = _model(tmp_path)
    estimate = replica_throughput(model, pool, concurrency)
    assert estimate is not None
    for measured in MEASURED[concurrency]:
        assert estimate.tokens_per_second == pytest.approx(measured, rel=0.25)


def test_the_default_batch_is_max_num_seqs_and_matches_the_issue_figure(tmp_path: Path) -> None:
    model, pool = _model(tmp_path)
    estimate = replica_throughput(model, pool)
    assert estimate is not None and estimate.concurrency == 256
    assert estimate.tokens_per_second == pytest.approx(10_970, rel=0.25)
    # vLLM reported a KV cache of 896,912 tokens here: 1,167 sequences of 768 tokens.
    assert kv_fit_sequences(model, pool) == pytest.approx(896_912 / 768, rel=0.1)
    assert "at concurrency 256 (max_num_seqs 256" in estimate.describe()


def test_a_batch_larger_than_the_kv_cache_is_capped_by_what_fits(tmp_path: Path) -> None:
    model, pool = _model(tmp_path, max_num_seqs=4096)
    estimate = replica_throughput(model, pool)
    assert estimate is not None
    assert estimate.concurrency == kv_fit_sequences(model, pool) < 4096
    assert "the KV cache fits" in estimate.describe()
