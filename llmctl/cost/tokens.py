"""Dollars per million output tokens, per model.

Measured, when `monitoring.prometheus_url` is set: the model's expected monthly cost, prorated
to the window (`--window`, default 7d), divided by the tokens its replicas generated over that
window (`vllm:generation_tokens_total`, both tracks; llmctl.metrics.tokens_generated).

Otherwise, or when Prometheus has no counter for the model, an estimate, labelled as such:
each replica's output tokens/s from the batch llmctl configures (llmctl/cost/throughput.py:
weights and KV-cache bytes per token at min(max_num_seqs, what the KV cache fits), calibrated
on real vLLM), at the expected replicas, every hour of the month. It is the cost per token at
full load: at lower concurrency a replica makes fewer tokens for the same dollars, so the real
figure is higher; the note says which concurrency the figure assumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from llmctl.catalog import HOURS_PER_MONTH
from llmctl.cost.breakdown import CostEstimate, ModelCost
from llmctl.cost.throughput import replica_throughput
from llmctl.errors import LlmctlError
from llmctl.ir import Deployment, ModelIR, PoolIR

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_WINDOW = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class TokenCost:
    """The cost of a million output tokens of one model, and how it was arrived at."""

    model: str
    basis: Literal["prometheus", "estimate"]
    usd_per_million: float | None  # None: no tokens to divide by
    tokens: float | None  # prometheus: over the window; estimate: a month at full load
    cost_usd: float | None  # the model's cost over the same period
    window: str | None = None
    note: str = ""
    concurrency: int | None = None  # estimate: the batch per replica the figure assumes
    tokens_per_second: float | None = None  # estimate: per replica, at that concurrency

    def to_json(self) -> dict[str, Any]:
        """One entry of `tokens` in `llmctl cost --json`."""
        return {
            "model": self.model, "basis": self.basis, "window": self.window,
            "usd_per_million_tokens": None if self.usd_per_million is None
            else round(self.usd_per_million, 4),
            "tokens": None if self.tokens is None else round(self.tokens),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 4),
            "note": self.note,
            "concurrency": self.concurrency,
            "tokens_per_second": None if self.tokens_per_second is None
            else round(self.tokens_per_second),
        }  # fmt: skip


def window_seconds(window: str) -> float:
    """Seconds in a Prometheus duration such as "7d", "12h" or "1h30m"."""
    if not _WINDOW.match(window):
        raise LlmctlError(
            f"--window {window!r} is not a duration",
            hint='use a number and a unit, e.g. "7d", "24h" or "30m"',
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", window))
    if seconds <= 0:
        raise LlmctlError(f"--window {window!r} is empty", hint='use e.g. "7d"')
    return seconds


def decode_tokens_per_second(model: ModelIR, pool: PoolIR) -> float:
    """The throughput estimate of one replica of `model` on `pool`, at its configured batch."""
    estimate = replica_throughput(model, pool)
    return estimate.tokens_per_second if estimate else 0.0


def estimated_token_cost(deployment: Deployment, cost: ModelCost) -> TokenCost:
    """$/M tokens of one model from the throughput estimate, at its expected replicas."""
    model = next(m for m in deployment.models if m.name == cost.name)
    tokens = 0.0
    first = None
    for share in cost.shares:
        estimate = replica_throughput(model, deployment.pool(share.pool))
        if estimate is None:
            continue
        first = first or estimate
        tokens += share.replicas["expected"] * estimate.tokens_per_second * SECONDS_PER_MONTH
    monthly = cost.monthly.expected
    if tokens <= 0 or first is None:
        return TokenCost(
            cost.name,
            "estimate",
            None,
            0.0,
            monthly,
            None,
            "estimate: no replicas in the expected scenario",
        )
    note = f"{model.name}: estimate at full load, {first.describe()}"
    return TokenCost(
        cost.name,
        "estimate",
        monthly / tokens * 1e6,
        tokens,
        monthly,
        None,
        note,
        first.concurrency,
        first.tokens_per_second,
    )


def measured_token_cost(
    client: Any, cost: ModelCost, window: str, at: float | None = None
) -> TokenCost | None:
    """$/M tokens from the Prometheus token counter over `window`; None when it has no series."""
    from llmctl.metrics import tokens_generated

    tokens = tokens_generated(client, cost.name, window, at)
    if tokens is None:
        return None
    window_cost = cost.monthly.expected * window_seconds(window) / SECONDS_PER_MONTH
    if tokens <= 0:
        return TokenCost(
            cost.name,
            "prometheus",
            None,
            0.0,
            window_cost,
            window,
            f"no tokens generated in the last {window}",
        )
    note = f"expected cost over the last {window} / tokens generated (Prometheus)"
    return TokenCost(
        cost.name, "prometheus", window_cost / tokens * 1e6, tokens, window_cost, window, note
    )


def token_costs(
    deployment: Deployment,
    estimate: CostEstimate,
    window: str = "7d",
    prometheus_url: str | None = None,
    at: float | None = None,
) -> tuple[list[TokenCost], list[str]]:
    """$/M tokens of every model, and warnings. Measured where Prometheus (`prometheus_url`,
    else monitoring.prometheus_url) has the model's token counter, estimated elsewhere."""
    window_seconds(window)
    url = prometheus_url or deployment.prometheus_url
    warnings: list[str] = []
    measured: dict[str, TokenCost | None] = {}
    if url:
        from llmctl.metrics import PrometheusClient

        try:
            with PrometheusClient(url) as client:
                for cost in estimate.by_model:
                    measured[cost.name] = measured_token_cost(client, cost, window, at)
        except LlmctlError:
            # Usually a laptop that cannot resolve the in-cluster address: say so plainly, once.
            from llmctl.metrics import redact_url

            measured = {}
            warnings.append(
                f"per-token costs are estimates: Prometheus ({redact_url(url)}) is not reachable "
                "from here; for measured figures, port-forward it (kubectl -n monitoring "
                "port-forward svc/prometheus 9090) and pass --prometheus-url "
                "http://localhost:9090 (or set LLMCTL_PROMETHEUS_URL)"
            )
    out = []
    for cost in estimate.by_model:
        found = measured.get(cost.name)
        if found is None and url and cost.name in measured:
            warnings.append(
                f"Prometheus has no {cost.name} token counter "
                f"(vllm:generation_tokens_total); its per-token cost is an estimate"
            )
        out.append(found or estimated_token_cost(deployment, cost))
    return out, warnings
