"""Canary analysis: one rollout step's verdict from the canary pods' own metrics in Prometheus.

At every step, after `interval`, the rollout asks `analyse` about the canary track of a model
over that interval. The verdict is one of:

- "pass": at least `min_requests` requests, and neither threshold breached;
- "breach": enough requests, and the error rate or the TTFT p95 above its maximum; the
  rollout aborts and rolls back;
- "insufficient_traffic": fewer than `min_requests` requests (or no TTFT observed at all), so
  the step cannot pass, whatever the few requests did; it is not a breach either: the step
  waits for more traffic.

Which pods: series are selected by `llmctl_model` and `track`, the Prometheus labels the
ServiceMonitor makes from the pod labels `llmctl.dev/model` and `llmctl.dev/track` (see
llmctl/metrics.py, `SERVICE_MONITOR_RELABELINGS`, which the renderer must use).

What is measured (the exact PromQL is `canary_queries`):

- requests come from the HTTP counter of vLLM's OpenAI server (`http_requests_total{handler,
  method, status}`, from prometheus-fastapi-instrumentator, status grouped as "2xx"/"4xx"/
  "5xx"), on the inference handlers only, so that `/v1/models` polls by gateways do not dilute
  the rate.
- the error rate is (5xx responses + requests the engine finished with `finished_reason`
  "abort" or "error" in `vllm:request_success_total`) / requests. A 5xx is the server's fault,
  as in Flagger's and Argo Rollouts' request-success-rate checks; a 4xx is the client's. The
  finish reasons catch what the status cannot: a streamed response that ended aborted or
  failed after its 200 header (a vLLM before 0.18 aborting on SIGTERM, an engine error). A
  failure seen both ways (a non-streamed engine error answered 500) counts twice, which errs
  toward rolling back; the rate is capped at 1.
  Blind spots (measured on vLLM 0.26.0): a client that disconnects mid-stream leaves no trace
  in either counter (HTTP 200, and no "abort" finish), and requests that never reach a crashed
  pod show only as missing traffic, so the step cannot pass.
- TTFT p95 is `histogram_quantile` over `vllm:time_to_first_token_seconds_bucket`, summed over
  the track's pods before the quantile, as Prometheus recommends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from llmctl.ir import AnalysisIR
from llmctl.metrics import (
    HTTP_REQUESTS,
    MODEL_LABEL,
    TRACK_LABEL,
    VLLM_REQUEST_SUCCESS,
    VLLM_TTFT_BUCKET,
    PrometheusClient,
    check_window,
    selector,
)

Verdict = Literal["pass", "breach", "insufficient_traffic"]

# The OpenAI-compatible routes that do inference; everything else (/v1/models, /tokenize, ...)
# is cheap and would make a failing canary look healthier than it is.
INFERENCE_HANDLERS = "/v1/(chat/completions|completions|responses|embeddings)"
TTFT_QUANTILE = 0.95
FAILED_FINISHES = "abort|error"  # vLLM's finish reasons other than stop and length


def canary_queries(
    model: str,
    track: str,
    window: str,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """The PromQL llmctl sends for one track of a model: requests, error_rate, ttft_p95_seconds.

    `extra_labels` narrows every selector further (e.g. {"namespace": "llm"}), for a
    Prometheus that scrapes several deployments with the same model name.
    """
    w = check_window(window)
    labels = {MODEL_LABEL: model, TRACK_LABEL: track, **(extra_labels or {})}
    http = selector(labels)[:-1] + f',handler=~"{INFERENCE_HANDLERS}"' + "}"
    http_5xx = http[:-1] + ',status=~"5.."}'
    failed = selector(labels)[:-1] + f',finished_reason=~"{FAILED_FINISHES}"' + "}"
    return {
        "requests": f"sum(increase({HTTP_REQUESTS}{http}[{w}]))",
        # `or vector(0)`: a server that never answered 5xx (or never aborted) has no such series.
        "error_rate": (
            f"clamp_max(((sum(rate({HTTP_REQUESTS}{http_5xx}[{w}])) or vector(0))"
            f" + (sum(rate({VLLM_REQUEST_SUCCESS}{failed}[{w}])) or vector(0)))"
            f" / sum(rate({HTTP_REQUESTS}{http}[{w}])), 1)"
        ),
        "ttft_p95_seconds": (
            f"histogram_quantile({TTFT_QUANTILE}, "
            f"sum by (le) (rate({VLLM_TTFT_BUCKET}{selector(labels)}[{w}])))"
        ),
    }


@dataclass(frozen=True)
class AnalysisResult:
    """The verdict of one analysis, with the figures measured and the thresholds they met."""

    verdict: Verdict
    model: str
    track: str
    window: str
    at: float | None
    requests: float
    error_rate: float | None
    ttft_p95_seconds: float | None
    thresholds: AnalysisIR
    reasons: tuple[str, ...]
    queries: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True only for "pass": a breach and too little traffic both keep the step from passing."""
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape used by `rollout --json` (may only grow)."""
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "model": self.model,
            "track": self.track,
            "window": self.window,
            "at": self.at,
            "requests": self.requests,
            "error_rate": self.error_rate,
            "ttft_p95_seconds": self.ttft_p95_seconds,
            "thresholds": self.thresholds.model_dump(mode="json"),
            "reasons": list(self.reasons),
            "queries": dict(self.queries),
        }


def analyse(
    client: PrometheusClient,
    model: str,
    analysis: AnalysisIR,
    window: str,
    at: float | None = None,
    track: str = "canary",
    extra_labels: dict[str, str] | None = None,
) -> AnalysisResult:
    """Measure one track of `model` over `window` ending at `at` (default now) and judge it."""
    queries = canary_queries(model, track, window, extra_labels)
    # increase() extrapolates, so counts come back as floats; round away the float noise only.
    requests = round(client.query_scalar(queries["requests"], at) or 0.0, 6)
    error_rate = client.query_scalar(queries["error_rate"], at)
    ttft = client.query_scalar(queries["ttft_p95_seconds"], at)

    enough = requests >= analysis.min_requests
    error_breach = error_rate is not None and error_rate > analysis.max_error_rate
    ttft_breach = ttft is not None and ttft > analysis.max_ttft_p95_seconds

    reasons = [
        f"{_count(requests)} requests in {window} {'>=' if enough else '<'} min "
        f"{analysis.min_requests}",
        _error_reason(error_rate, analysis.max_error_rate, window),
        _ttft_reason(ttft, analysis.max_ttft_p95_seconds, window),
    ]
    verdict: Verdict
    if not enough or (ttft is None and not error_breach):
        verdict = "insufficient_traffic"
    elif error_breach or ttft_breach:
        verdict = "breach"
    else:
        verdict = "pass"
    return AnalysisResult(
        verdict=verdict,
        model=model,
        track=track,
        window=window,
        at=at,
        requests=requests,
        error_rate=error_rate,
        ttft_p95_seconds=ttft,
        thresholds=analysis,
        reasons=tuple(reasons),
        queries=queries,
    )


def _count(requests: float) -> str:
    return f"{requests:.0f}" if requests == int(requests) else f"{requests:.1f}"


def _error_reason(rate: float | None, maximum: float, window: str) -> str:
    if rate is None:
        return f"error rate: no data (no inference requests in {window})"
    return f"error rate {rate:.2%} {'>' if rate > maximum else '<='} max {maximum:.2%}"


def _ttft_reason(ttft: float | None, maximum: float, window: str) -> str:
    if ttft is None:
        return f"ttft p95: no data (no first token observed in {window})"
    return f"ttft p95 {ttft:.3f}s {'>' if ttft > maximum else '<='} max {maximum:.3f}s"
