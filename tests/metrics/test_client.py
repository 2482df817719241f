"""PrometheusClient and tokens_generated against a real Prometheus (conftest.py)."""

from __future__ import annotations

import math
import socket

import pytest

from llmctl.errors import LlmctlError
from llmctl.metrics import (
    PrometheusClient,
    redact_url,
    tokens_generated,
    tokens_generated_query,
    window_from_seconds,
)


@pytest.fixture()
def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_prometheus_is_a_clear_error(closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(LlmctlError) as err:
        PrometheusClient(url, timeout=2).query("up")
    assert err.value.message.startswith(f"cannot reach Prometheus at {url}: ")
    assert "monitoring.prometheus_url" in err.value.hint and "port-forward" in err.value.hint


def test_unreachable_error_never_shows_the_password(closed_port):
    with pytest.raises(LlmctlError) as err:
        PrometheusClient(f"http://ops:s3cret@127.0.0.1:{closed_port}", timeout=2).query("up")
    assert "s3cret" not in err.value.message + err.value.hint
    assert f"http://ops:***@127.0.0.1:{closed_port}" in err.value.message
    assert redact_url("http://127.0.0.1:9090") == "http://127.0.0.1:9090"


@pytest.mark.prometheus
def test_bad_query_shows_prometheus_error_and_the_query(prometheus):
    with pytest.raises(LlmctlError) as err:
        PrometheusClient(prometheus.url).query("sum(rate(vllm:generation_tokens_total[5m])")
    assert err.value.message.startswith("Prometheus rejected the query (bad_data): ")
    assert "parse error" in err.value.message
    assert err.value.hint == "query: sum(rate(vllm:generation_tokens_total[5m])"


@pytest.mark.prometheus
def test_a_url_that_is_not_the_api_is_reported_as_such(prometheus):
    with pytest.raises(LlmctlError) as err:
        PrometheusClient(prometheus.url + "/not-prometheus").query("up")
    assert "answered HTTP 404 without an API response" in err.value.message


@pytest.mark.prometheus
def test_query_returns_labels_and_values(prometheus):
    scenario = prometheus.scenarios["chat-ok"]
    samples = PrometheusClient(prometheus.url).query(
        'sum by (track) (increase(vllm:generation_tokens_total{llmctl_model="chat-ok"}[30m]))',
        at=prometheus.at,
    )
    got = {s.labels["track"]: s.value for s in samples}
    assert got == pytest.approx({
        "stable": scenario.stable.generated_tokens(1800),
        "canary": scenario.canary.generated_tokens(1800),
    }, rel=1e-9)  # fmt: skip
    assert {s.timestamp for s in samples} == {prometheus.at}


@pytest.mark.prometheus
def test_nan_is_kept_by_query_and_is_no_data_for_query_scalar(prometheus):
    client = PrometheusClient(prometheus.url)
    (sample,) = client.query("0/0", at=prometheus.at)
    assert math.isnan(sample.value) and sample.labels == {}
    assert client.query_scalar("0/0", at=prometheus.at) is None
    assert client.query_scalar("vector(2.5)", at=prometheus.at) == 2.5
    assert client.query_scalar('vllm:generation_tokens_total{llmctl_model="none"}') is None


@pytest.mark.prometheus
def test_query_scalar_refuses_several_series(prometheus):
    with pytest.raises(LlmctlError, match=r"returned \d+ series where llmctl expects one"):
        PrometheusClient(prometheus.url).query_scalar("vllm:generation_tokens_total", prometheus.at)


@pytest.mark.prometheus
def test_range_vector_result_is_refused(prometheus):
    with pytest.raises(LlmctlError, match="a matrix where llmctl expects an instant vector"):
        PrometheusClient(prometheus.url).query("vllm:generation_tokens_total[1m]", prometheus.at)


@pytest.mark.prometheus
@pytest.mark.parametrize("model", ["chat-ok", "chat-errors", "chat-slow", "chat-quiet"])
def test_tokens_generated_counts_both_tracks(prometheus, model):
    scenario = prometheus.scenarios[model]
    assert scenario.canary_engine_labelled
    want = scenario.stable.generated_tokens(3000) + scenario.canary.generated_tokens(3000)
    got = tokens_generated(PrometheusClient(prometheus.url), model, "50m", at=prometheus.at)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.prometheus
def test_tokens_generated_is_none_for_a_model_prometheus_never_saw(prometheus):
    client = PrometheusClient(prometheus.url)
    assert tokens_generated(client, "not-deployed", "1h", at=prometheus.at) is None


def test_tokens_generated_query_and_windows():
    assert tokens_generated_query("llama-8b", window_from_seconds(300)) == (
        'sum(increase(vllm:generation_tokens_total{llmctl_model="llama-8b"}[300s]))'
    )
    with pytest.raises(LlmctlError):
        window_from_seconds(0)
