"""Cheaper instance types that fit the same models (llmctl/cost/hints.py)."""

from __future__ import annotations

import pytest

from llmctl import catalog, sizing
from llmctl.compile import compile_file
from llmctl.cost.hints import cheaper_fit_hints, model_fits
from llmctl.cost.prices import PriceCache
from tests.conftest import example

H = 730


def test_the_l40s_pool_of_the_aws_example_gets_the_l4_hint(tmp_path):
    d = compile_file(example("aws")).deployment
    hints = cheaper_fit_hints(d, PriceCache(tmp_path / "p.json"))
    (l40s,) = [h for h in hints if h.startswith("use1/l40s:")]
    # qwen-7b (14.2 GiB of bf16 weights) fits an L4's 24 GiB; on spot prices, 4 expected nodes.
    g6 = catalog.instance_types()["g6.xlarge"]
    expected = 4 * (g6.spot_usd_hour["us-east-1"] * H + 300 * 0.08)
    assert f"g6.xlarge (1 x L4) also fits qwen-7b: {expected:,.0f} USD/month" in l40s
    assert "fewer tokens/s per replica" in l40s  # L4 has less memory bandwidth than L40S


def test_no_hint_when_nothing_cheaper_fits(tmp_path):
    # A 0.5B model on g4dn.xlarge, the cheapest GPU instance type in the catalog.
    spec = tmp_path / "llm.yaml"
    spec.write_text(
        "version: 1\nname: tiny\nclusters:\n  - name: c\n    aws: {region: us-east-1, cluster: "
        "{create: true}}\n    pools:\n      - {name: t4, instance_type: g4dn.xlarge, max_nodes: 2}\n"
        "models:\n  - name: small\n    source: hf://Qwen/Qwen2.5-0.5B-Instruct\n"
        "    architecture: {params_b: 0.5, layers: 24, heads: 14, kv_heads: 2, head_dim: 64}\n"
        "    placements: [{pool: c/t4, replicas: 2}]\n"
    )
    d = compile_file(spec).deployment
    assert cheaper_fit_hints(d, PriceCache(tmp_path / "p.json")) == []


def test_model_fits_uses_the_models_own_sizing():
    d = compile_file(example("onprem")).deployment
    llama70 = next(m for m in d.models if m.name == "llama-70b")  # fp8, 2 GPUs, 16k context
    types = catalog.instance_types()
    assert model_fits(llama70, types["p5.48xlarge"])  # H100: fp8, 80 GB
    assert not model_fits(llama70, types["p4de.24xlarge"])  # A100: no fp8
    llama8 = next(m for m in d.models if m.name == "llama-8b")
    a, e = llama8.architecture, llama8.engine
    fit = sizing.fit(
        sizing.Shape(a.params_b, a.layers, a.heads, a.kv_heads, a.head_dim),
        sizing.EngineSettings(
            e.dtype, e.quantization, e.kv_cache_dtype, e.gpu_memory_utilization, e.max_model_len
        ),
        1,
        types["g4dn.xlarge"].gpu_memory_gib,
    )
    assert model_fits(llama8, types["g4dn.xlarge"]) is fit.fits is False  # 16 GB T4 too small
    assert model_fits(llama8, types["g6.xlarge"])


@pytest.mark.parametrize("name", ["quickstart", "onprem", "multi-model"])
def test_on_prem_pools_get_no_instance_hints(name, tmp_path):
    d = compile_file(example(name)).deployment
    assert cheaper_fit_hints(d, PriceCache(tmp_path / "p.json")) == []
