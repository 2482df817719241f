"""Prometheus: the HTTP API client, and the label and metric names llmctl reads there.

llmctl reads two things from the cluster's Prometheus (`monitoring.prometheus_url`): the canary
analysis of a rollout (llmctl/rollout/analysis.py) and the tokens a model generated, for the cost
per token (`tokens_generated` below).

How series are told apart: every vLLM pod llmctl renders carries the pod labels
`llmctl.dev/model: <model name>` and `llmctl.dev/track: stable|canary`. The ServiceMonitor
copies them onto every scraped series as the Prometheus labels `llmctl_model` and `track`
(`SERVICE_MONITOR_RELABELINGS` is that relabeling, for the renderer to use as is). Queries select
on those two labels rather than on vLLM's own `model_name`, because `model_name` is the served
name: the same on both tracks, and not necessarily the llmctl model name.

httpx is imported where it is used, so importing this module costs nothing at CLI start-up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    import httpx

# Pod labels llmctl puts on its vLLM pods, and the Prometheus labels they become.
POD_MODEL_LABEL = "llmctl.dev/model"
POD_TRACK_LABEL = "llmctl.dev/track"
MODEL_LABEL = "llmctl_model"
TRACK_LABEL = "track"
TRACKS = ("stable", "canary")

# prometheus-operator ServiceMonitor `endpoints[].relabelings`: pod label -> series label.
# Kubernetes service discovery exposes pod label `a.b/c` as `__meta_kubernetes_pod_label_a_b_c`.
SERVICE_MONITOR_RELABELINGS: tuple[dict[str, Any], ...] = (
    {
        "sourceLabels": ["__meta_kubernetes_pod_label_llmctl_dev_model"],
        "targetLabel": MODEL_LABEL,
        "action": "replace",
    },
    {
        "sourceLabels": ["__meta_kubernetes_pod_label_llmctl_dev_track"],
        "targetLabel": TRACK_LABEL,
        "action": "replace",
    },
)

# vLLM's metric names (vllm/v1/metrics/loggers.py), and the HTTP counter its OpenAI server
# exposes through prometheus-fastapi-instrumentator (labels handler, method, status="2xx"...).
VLLM_GENERATION_TOKENS = "vllm:generation_tokens_total"
VLLM_PROMPT_TOKENS = "vllm:prompt_tokens_total"
VLLM_TTFT_BUCKET = "vllm:time_to_first_token_seconds_bucket"
VLLM_E2E_COUNT = "vllm:e2e_request_latency_seconds_count"
VLLM_REQUEST_SUCCESS = "vllm:request_success_total"
HTTP_REQUESTS = "http_requests_total"

_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_CONNECT_HINT = (
    "check monitoring.prometheus_url in llm.yaml; from outside the cluster, port-forward it "
    "(kubectl -n monitoring port-forward svc/prometheus 9090) and point the URL at localhost"
)


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result: its labels and its value (NaN stays NaN)."""

    labels: dict[str, str] = field(default_factory=dict)
    value: float = math.nan
    timestamp: float = 0.0


def check_window(window: str) -> str:
    """Return `window` if it is a PromQL duration ("5m", "300s", "1h30m"), else raise."""
    if not _DURATION.match(window):
        raise LlmctlError(
            f"analysis window {window!r} is not a Prometheus duration",
            hint='use a number and a unit, e.g. "300s", "5m" or "1h"',
        )
    return window


def window_from_seconds(seconds: int) -> str:
    """The PromQL duration for a whole number of seconds, e.g. 300 -> "300s"."""
    if seconds <= 0:
        raise LlmctlError(f"analysis window must be positive, got {seconds}s")
    return f"{int(seconds)}s"


def label_value(value: str) -> str:
    """`value` as a double-quoted PromQL string, escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(labels: dict[str, str]) -> str:
    """The `{a="x",b="y"}` matcher for exact label values, in the order given."""
    return "{" + ",".join(f"{k}={label_value(v)}" for k, v in labels.items()) + "}"


def redact_url(url: str) -> str:
    """`url` without a password, so an error message never shows one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


class PrometheusClient:
    """A small client for Prometheus' HTTP API (`/api/v1/query`)."""

    def __init__(self, base_url: str, timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http: httpx.Client | None = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled HTTP connection, if one was opened."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """Evaluate an instant query at unix time `at` (default: now) and return its series."""
        data = self._get("/api/v1/query", {"query": promql, **({} if at is None else {"time": at})})
        kind, result = data.get("resultType"), data.get("result")
        if kind == "vector":
            return [
                Sample(
                    labels=dict(item.get("metric", {})),
                    value=float(item["value"][1]),
                    timestamp=float(item["value"][0]),
                )
                for item in result or []
            ]
        if kind == "scalar" and isinstance(result, list):
            return [Sample(value=float(result[1]), timestamp=float(result[0]))]
        raise LlmctlError(
            f"Prometheus returned a {kind} where llmctl expects an instant vector",
            hint=f"query: {promql}",
        )

    def query_scalar(self, promql: str, at: float | None = None) -> float | None:
        """The single value of an instant query; None when it has no series or is NaN (0/0)."""
        samples = self.query(promql, at)
        if not samples:
            return None
        if len(samples) > 1:
            raise LlmctlError(
                f"Prometheus returned {len(samples)} series where llmctl expects one",
                hint=f"aggregate the query (sum, max, ...); query: {promql}",
            )
        value = samples[0].value
        return None if math.isnan(value) else value

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=self.timeout)
        return self._http

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = self.base_url + path
        shown = redact_url(self.base_url)
        query = params.get("query", "")
        try:
            response = self._client().get(url, params=params)
        except httpx.TimeoutException as exc:
            raise LlmctlError(
                f"cannot reach Prometheus at {shown}: timed out after {self.timeout:g}s "
                f"({type(exc).__name__})",
                hint=_CONNECT_HINT,
            ) from exc
        except httpx.HTTPError as exc:
            raise LlmctlError(
                f"cannot reach Prometheus at {shown}: {redact_url(str(exc))}", hint=_CONNECT_HINT
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            # Not the Prometheus API: a wrong path prefix, a proxy's login page, a 502 ...
            excerpt = " ".join(response.text.split())[:200]
            raise LlmctlError(
                f"Prometheus at {shown} answered HTTP {response.status_code} without an API "
                f"response: {excerpt}",
                hint="check that monitoring.prometheus_url is the Prometheus base URL "
                "(the one that serves /api/v1/query)",
            )
        if body["status"] != "success":
            raise LlmctlError(
                f"Prometheus rejected the query ({body.get('errorType', 'error')}): "
                f"{body.get('error', 'no detail')}",
                hint=f"query: {query}",
            )
        data = body.get("data")
        return data if isinstance(data, dict) else {}


def tokens_generated(
    client: PrometheusClient,
    model: str,
    window: str,
    at: float | None = None,
    extra_labels: dict[str, str] | None = None,
) -> float | None:
    """Tokens `model` generated over `window` (both tracks), for the cost per token.

    None when Prometheus has no series for the model at all (unknown to it, or not scraped),
    which is not the same as 0 (scraped, but idle).
    """
    return client.query_scalar(tokens_generated_query(model, window, extra_labels), at)


def tokens_generated_query(
    model: str, window: str, extra_labels: dict[str, str] | None = None
) -> str:
    """The PromQL behind `tokens_generated`."""
    match = selector({MODEL_LABEL: model, **(extra_labels or {})})
    return f"sum(increase({VLLM_GENERATION_TOKENS}{match}[{check_window(window)}]))"
