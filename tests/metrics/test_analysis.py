"""Canary analysis against a real Prometheus holding the scenarios' vLLM series (conftest.py).

Every expected figure is computed from the generator's per-step load, not written down.
"""

from __future__ import annotations

import json

import pytest

from llmctl.errors import LlmctlError
from llmctl.ir import AnalysisIR
from llmctl.metrics import PrometheusClient
from llmctl.rollout.analysis import AnalysisResult, analyse, canary_queries

pytestmark = pytest.mark.prometheus

ANALYSIS = AnalysisIR(max_error_rate=0.01, max_ttft_p95_seconds=1.5, min_requests=50)
WINDOW, WINDOW_S = "5m", 300


def expected_verdict(requests: int, error_rate: float, ttft: float) -> str:
    """The rule, restated from the figures: too little traffic first, then either threshold."""
    if requests < ANALYSIS.min_requests:
        return "insufficient_traffic"
    if error_rate > ANALYSIS.max_error_rate or ttft > ANALYSIS.max_ttft_p95_seconds:
        return "breach"
    return "pass"


@pytest.fixture(scope="module")
def client(prometheus):
    with PrometheusClient(prometheus.url) as c:
        yield c


@pytest.mark.parametrize(
    "model", ["chat-ok", "chat-errors", "chat-aborts", "chat-slow", "chat-quiet"]
)
def test_canary_scenario_verdict_and_figures(prometheus, client, model):
    scenario = prometheus.scenarios[model]
    load = scenario.canary
    want_requests, want_rate, want_ttft = (
        load.requests(WINDOW_S),
        load.error_rate(),
        load.ttft_p95(),
    )
    # The scenario is what it claims to be, by the rule itself.
    assert expected_verdict(want_requests, want_rate, want_ttft) == scenario.verdict

    result = analyse(client, model, ANALYSIS, WINDOW, at=prometheus.at)

    assert result.verdict == scenario.verdict
    assert result.passed is (scenario.verdict == "pass")
    assert result.requests == pytest.approx(want_requests, rel=1e-9)
    assert result.error_rate == pytest.approx(want_rate, rel=1e-9)
    assert result.ttft_p95_seconds == pytest.approx(want_ttft, rel=1e-9)
    assert result.thresholds == ANALYSIS
    assert result.reasons[0].startswith(f"{want_requests} requests in 5m ")


def test_error_breach_reason_shows_measured_rate_against_max(prometheus, client):
    load = prometheus.scenarios["chat-errors"].canary
    result = analyse(client, "chat-errors", ANALYSIS, WINDOW, at=prometheus.at)
    assert result.verdict == "breach"
    assert f"error rate {load.error_rate():.2%} > max 1.00%" in result.reasons
    assert result.error_rate is not None and result.error_rate > ANALYSIS.max_error_rate
    # 4xx are the clients' errors: 6 of 100 are 5xx, so 6.00%, not 10.00%.
    assert f"{load.error_rate():.2%}" == "6.00%"


def test_ttft_breach_reason_shows_measured_p95_against_max(prometheus, client):
    load = prometheus.scenarios["chat-slow"].canary
    result = analyse(client, "chat-slow", ANALYSIS, WINDOW, at=prometheus.at)
    assert result.verdict == "breach"
    assert f"ttft p95 {load.ttft_p95():.3f}s > max 1.500s" in result.reasons
    assert "error rate 0.00% <= max 1.00%" in result.reasons


def test_too_little_traffic_is_neither_pass_nor_breach_even_with_failures(prometheus, client):
    load = prometheus.scenarios["chat-quiet"].canary
    result = analyse(client, "chat-quiet", ANALYSIS, WINDOW, at=prometheus.at)
    assert load.error_rate() == 0.5  # half its requests failed ...
    assert result.verdict == "insufficient_traffic"  # ... and still no breach on 40 requests
    assert not result.passed
    assert result.reasons[0] == f"{load.requests(WINDOW_S)} requests in 5m < min 50"


def test_a_longer_window_holding_enough_requests_judges_the_same_failures(prometheus, client):
    # 2 requests a step: 20 minutes hold 160 of them, but half fail, so the window that has
    # enough traffic turns the same data into a breach.
    load = prometheus.scenarios["chat-quiet"].canary
    result = analyse(client, "chat-quiet", ANALYSIS, "20m", at=prometheus.at)
    assert result.requests == pytest.approx(load.requests(1200), rel=1e-9)
    assert result.verdict == "breach"


def test_stable_track_is_measured_apart_and_no_5xx_series_means_zero_errors(prometheus, client):
    stable = prometheus.scenarios["chat-ok"].stable
    assert stable.server_errors == 0  # so Prometheus holds no 5xx series for it at all
    result = analyse(client, "chat-ok", ANALYSIS, WINDOW, at=prometheus.at, track="stable")
    assert result.error_rate == 0.0
    assert result.requests == pytest.approx(stable.requests(WINDOW_S), rel=1e-9)
    assert result.ttft_p95_seconds == pytest.approx(stable.ttft_p95(), rel=1e-9)
    assert result.verdict == "pass"


def test_enough_requests_but_no_ttft_series_cannot_pass(prometheus, client):
    load = prometheus.scenarios["chat-unlabelled"].canary
    result = analyse(client, "chat-unlabelled", ANALYSIS, WINDOW, at=prometheus.at)
    assert result.requests == pytest.approx(load.requests(WINDOW_S), rel=1e-9)
    assert result.error_rate == 0.0 and result.ttft_p95_seconds is None
    assert result.verdict == "insufficient_traffic"
    assert "ttft p95: no data (no first token observed in 5m)" in result.reasons


def test_model_without_series_has_no_data_and_cannot_pass(prometheus, client):
    result = analyse(client, "not-deployed", ANALYSIS, WINDOW, at=prometheus.at)
    assert (result.requests, result.error_rate, result.ttft_p95_seconds) == (0, None, None)
    assert result.verdict == "insufficient_traffic"
    assert "error rate: no data (no inference requests in 5m)" in result.reasons
    assert "ttft p95: no data (no first token observed in 5m)" in result.reasons


def test_extra_labels_narrow_the_selection(prometheus, client):
    load = prometheus.scenarios["chat-ok"].canary
    same = analyse(
        client, "chat-ok", ANALYSIS, WINDOW, prometheus.at, extra_labels={"namespace": "llm"}
    )
    other = analyse(
        client, "chat-ok", ANALYSIS, WINDOW, prometheus.at, extra_labels={"namespace": "x"}
    )
    assert same.requests == pytest.approx(load.requests(WINDOW_S), rel=1e-9)
    assert other.requests == 0 and other.verdict == "insufficient_traffic"


def test_model_names_are_escaped_into_valid_promql(prometheus, client):
    # A quote or backslash in a value must not break the query (the real parser would reject it).
    result = analyse(client, 'we"ird\\name', ANALYSIS, WINDOW, at=prometheus.at)
    assert result.verdict == "insufficient_traffic"
    assert 'llmctl_model="we\\"ird\\\\name"' in result.queries["requests"]


def test_result_json_is_complete_and_serialisable(prometheus, client):
    result = analyse(client, "chat-errors", ANALYSIS, WINDOW, at=prometheus.at)
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["verdict"] == "breach" and doc["passed"] is False
    assert doc["thresholds"] == {
        "max_error_rate": 0.01,
        "max_ttft_p95_seconds": 1.5,
        "min_requests": 50,
    }
    assert doc["requests"] == result.requests and doc["error_rate"] == result.error_rate
    assert doc["reasons"] == list(result.reasons)
    assert set(doc["queries"]) == {"requests", "error_rate", "ttft_p95_seconds"}
    assert isinstance(result, AnalysisResult)


def test_queries_select_the_track_by_the_relabelled_pod_labels():
    queries = canary_queries("llama-8b", "canary", "5m")
    for promql in queries.values():
        assert 'llmctl_model="llama-8b"' in promql and 'track="canary"' in promql
        assert "[5m]" in promql
    assert queries["ttft_p95_seconds"].startswith("histogram_quantile(0.95, sum by (le) (rate(")
    assert "vllm:time_to_first_token_seconds_bucket" in queries["ttft_p95_seconds"]
    assert 'status=~"5.."' in queries["error_rate"]


def test_a_window_that_is_not_a_duration_is_refused():
    with pytest.raises(LlmctlError, match="not a Prometheus duration"):
        canary_queries("llama-8b", "canary", "5 minutes")


def test_aborted_streams_count_as_errors_and_the_query_says_so(prometheus, client):
    # 200 OK on every request, but 5% of the streams ended with finish_reason abort.
    result = analyse(client, "chat-aborts", ANALYSIS, WINDOW, at=prometheus.at)
    assert result.verdict == "breach"
    assert result.error_rate == pytest.approx(0.05, rel=1e-6)
    query = result.to_json()["queries"]["error_rate"]
    assert 'vllm:request_success_total{' in query and 'finished_reason=~"abort|error"' in query
    assert 'status=~"5.."' in query
