"""Dollars per million output tokens: measured against a real Prometheus, or estimated."""

from __future__ import annotations

import json
import socket

import pytest

from llmctl import catalog
from llmctl.compile import compile_file
from llmctl.cost.estimate import estimate
from llmctl.cost.prices import PriceCache
from llmctl.cost.tokens import token_costs, window_seconds
from llmctl.errors import LlmctlError
from tests.conftest import example

QWEN = "hf://Qwen/Qwen2.5-7B-Instruct\n    revision: a09a35458c702b33eeacc393d103063234e8bc28"
# 2 nodes x 4 L40S at 1.00 USD per GPU-hour: 5,840 USD a month, 730 per GPU.
SPEC = f"""version: 1
name: tokens
clusters:
  - name: lab
    kubernetes: {{context: lab}}
    pools:
      - name: l40s
        gpu: {{model: L40S, per_node: 4}}
        nodes: 2
        gpu_hour_usd: 1.00
models:
  - name: chat-ok
    source: {QWEN}
    placements: [{{pool: lab/l40s, replicas: 2}}]
    rollout: {{strategy: rolling}}
  - name: chat-errors
    source: {QWEN}
    placements: [{{pool: lab/l40s, replicas: 1}}]
    rollout: {{strategy: rolling}}
  - name: not-scraped
    source: {QWEN}
    placements: [{{pool: lab/l40s, replicas: 1}}]
    rollout: {{strategy: rolling}}
monitoring:
  prometheus_url: PROMETHEUS
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def spec(tmp_path):
    def write(url: str):
        path = tmp_path / "llm.yaml"
        path.write_text(SPEC.replace("PROMETHEUS", url))
        return path

    return write


@pytest.mark.prometheus
def test_cost_per_token_from_the_real_prometheus(prometheus, spec, tmp_path):
    d = compile_file(spec(prometheus.url)).deployment
    est = estimate(d, prices=PriceCache(tmp_path / "p.json"))
    costs, warnings = token_costs(d, est, "30m", at=prometheus.at)
    by = {c.model: c for c in costs}
    # chat-ok: 2 GPUs of 8 -> 1,460 USD a month; over 30 minutes, 1,460 x 1800 / (730 x 3600) = 1 USD.
    ok = prometheus.scenarios["chat-ok"]
    tokens = ok.stable.generated_tokens(1800) + ok.canary.generated_tokens(1800)
    assert by["chat-ok"].basis == "prometheus"
    assert by["chat-ok"].tokens == pytest.approx(tokens)
    assert by["chat-ok"].cost_usd == pytest.approx(1.0)
    assert by["chat-ok"].usd_per_million == pytest.approx(1.0 / tokens * 1e6)
    errors = prometheus.scenarios["chat-errors"]
    tokens = errors.stable.generated_tokens(1800) + errors.canary.generated_tokens(1800)
    assert by["chat-errors"].usd_per_million == pytest.approx(0.5 / tokens * 1e6)
    # No counter for this model in Prometheus: an estimate, said so.
    assert by["not-scraped"].basis == "estimate"
    assert warnings == [
        "Prometheus has no not-scraped token counter (vllm:generation_tokens_total); "
        "its per-token cost is an estimate"
    ]
    assert by["chat-ok"].to_json()["window"] == "30m"


@pytest.mark.prometheus
def test_cli_reports_measured_cost_per_token(cli, prometheus, spec):
    code, out, err = cli(
        "cost",
        "-f",
        str(spec("http://127.0.0.1:9")),
        "--json",
        "--window",
        "30m",
        "--prometheus-url",
        prometheus.url,
    )
    assert code == 0, err
    data = json.loads(out)
    ok = next(t for t in data["tokens"] if t["model"] == "chat-ok")
    assert ok["basis"] == "prometheus" and ok["window"] == "30m"
    scenario = prometheus.scenarios["chat-ok"]
    full = scenario.stable.generated_tokens(1800) + scenario.canary.generated_tokens(1800)
    # Queried at "now", the window may reach past the newest sample: at most all of it.
    assert 0 < ok["tokens"] <= full * 1.05
    assert ok["cost_usd"] == pytest.approx(1.0)
    assert ok["usd_per_million_tokens"] == pytest.approx(
        ok["cost_usd"] / ok["tokens"] * 1e6, rel=1e-3
    )


def test_unreachable_prometheus_gives_labelled_estimates(spec, tmp_path):
    d = compile_file(spec(f"http://127.0.0.1:{closed_port()}")).deployment
    est = estimate(d, prices=PriceCache(tmp_path / "p.json"))
    costs, warnings = token_costs(d, est, "7d")
    assert {c.basis for c in costs} == {"estimate"}
    (said,) = warnings  # once, plainly, with the way to point it elsewhere
    assert said.startswith("per-token costs are estimates: Prometheus (http://127.0.0.1:")
    assert "not reachable from here" in said and "--prometheus-url" in said
    assert "Errno" not in said and "LLMCTL_PROMETHEUS_URL" in said


def test_throughput_estimate_for_the_quickstart(tmp_path):
    d = compile_file(example("quickstart")).deployment
    est = estimate(d, prices=PriceCache(tmp_path / "p.json"))
    (cost,), warnings = token_costs(d, est)
    assert warnings == []  # no monitoring configured: nothing to warn about
    # The throughput model (tests/cost/test_throughput.py), by hand: Qwen2.5-7B bf16 on one L4.
    # max_num_seqs is 256, but beside 14.2 GiB of weights the KV cache holds only 126 sequences
    # of 512 + 256 tokens: (0.9 x 24 - 14.192 - (1 + 0.05 x 24)) GiB / (768 x 56 KiB).
    weights = 14.192 * 2**30  # the IR's weights, GiB to 3 decimals
    kv_per_token = 2 * 28 * 4 * 128 * 2  # layers x kv_heads x head_dim x bf16, K and V
    batch = int((0.9 * 24 - 14.192 - 2.2) * 2**30 // (768 * kv_per_token))
    assert batch == 126
    l4 = catalog.find_gpu("L4")
    memory = (weights + batch * 640 * kv_per_token) / (0.87 * l4.bandwidth_gbps * 1e9)
    compute = batch * 2 * 7.62e9 * 3 / (0.76 * l4.bf16_tflops * 1e12)
    per_replica = batch / (1.3e-3 + memory + compute)  # well under the server's 15,000 tok/s
    tokens_a_month = 2 * per_replica * 730 * 3600
    assert catalog.find_model("Qwen/Qwen2.5-7B-Instruct").params_b == 7.62
    assert cost.basis == "estimate" and "full load" in cost.note
    assert cost.concurrency == 126 and "at concurrency 126 (the KV cache fits" in cost.note
    assert cost.usd_per_million == pytest.approx(657.0 / tokens_a_month * 1e6, rel=1e-3)


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("30m", 1800), ("1h30m", 5400)])
def test_window_seconds(text, seconds):
    assert window_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7", "d7", "7 days", "", "0d"])
def test_bad_windows_are_refused(text):
    with pytest.raises(LlmctlError, match="--window"):
        window_seconds(text)
