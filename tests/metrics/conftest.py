"""A real Prometheus server on loopback, backfilled with vLLM series for the canary scenarios.

The series are what llmctl's vLLM pods expose once the ServiceMonitor has added the `track` and
`llmctl_model` labels: vLLM's engine counters and histograms, and the HTTP counter of its
OpenAI server. Each scenario is a steady load (the same requests in every 15 s step), so every
figure Prometheus returns can be computed from the generator here, with no timing luck.

The samples reach Prometheus through `promtool tsdb create-blocks-from openmetrics` (the
backfill Prometheus itself ships): the blocks are written before the server starts, so the
tests never wait for scrapes. Needs `prometheus` and `promtool` (scripts/install-prometheus.sh);
without them the tests skip, unless LLMCTL_REQUIRE_PROMETHEUS=1 (CI), where that is a failure.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STEP = 15  # seconds between samples, a common scrape interval
SPAN = 3600  # one hour of history, ending at `at`
# vLLM's own TTFT buckets (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
INFERENCE_HANDLER = "/v1/chat/completions"


@dataclass(frozen=True)
class TrackLoad:
    """What each pod of one track serves in every step."""

    pods: int
    ok: int  # 2xx inference responses per pod per step
    client_errors: int  # 4xx
    server_errors: int  # 5xx
    model_polls: int  # GET /v1/models, not inference: must not count
    ttft_median: float  # seconds; TTFTs are log-normal around it
    ttft_sigma: float
    prompt_tokens: int
    generation_tokens: int
    seed: int
    aborted: int = 0  # of `ok`: streams that got their 200, then ended with finish_reason abort

    def ttfts(self) -> list[float]:
        """The TTFTs observed per pod per step: one per request that reached the engine."""
        rng = random.Random(self.seed)
        n = self.ok + self.server_errors
        return [rng.lognormvariate(math.log(self.ttft_median), self.ttft_sigma) for _ in range(n)]

    def bucket_counts(self) -> list[tuple[str, int]]:
        """Cumulative (le, count) per pod per step, +Inf last."""
        values = self.ttfts()
        counts = [(_fmt(b), sum(1 for v in values if v <= b)) for b in TTFT_BUCKETS]
        return [*counts, ("+Inf", len(values))]

    def requests(self, window_s: int) -> int:
        """Inference requests of the whole track over `window_s`."""
        total = self.ok + self.client_errors + self.server_errors
        return self.pods * total * window_s // STEP

    def error_rate(self) -> float:
        """5xx responses and aborted or failed finishes over inference requests."""
        failed = self.server_errors + self.aborted
        return failed / (self.ok + self.client_errors + self.server_errors)

    def ttft_p95(self) -> float:
        """p95 the way histogram_quantile computes it: linear inside the bucket it falls in."""
        return bucket_quantile(0.95, self.bucket_counts())

    def generated_tokens(self, window_s: int) -> int:
        """Tokens the track generated over `window_s`."""
        return self.pods * self.generation_tokens * window_s // STEP


def bucket_quantile(q: float, buckets: list[tuple[str, int]]) -> float:
    """Prometheus' bucketQuantile, on cumulative (le, count) pairs: the reference for the tests."""
    bounds = [(float(le), float(c)) for le, c in buckets]
    rank = q * bounds[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for i, (bound, count) in enumerate(bounds):
        if count >= rank:
            if math.isinf(bound):
                return bounds[i - 1][0]
            start = prev_bound if i > 0 else 0.0
            return start + (bound - start) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    raise AssertionError("unreachable: the +Inf bucket holds every observation")


@dataclass(frozen=True)
class Scenario:
    model: str  # llmctl model name: the `llmctl_model` label
    served_name: str  # vLLM's `model_name` label
    stable: TrackLoad
    canary: TrackLoad
    verdict: str  # what the canary's analysis must say
    canary_engine_labelled: bool = True  # False: its vLLM series lack llmctl_model and track


def _healthy_stable(seed: int) -> TrackLoad:
    return TrackLoad(2, 300, 3, 0, 4, 0.20, 0.5, 90_000, 24_000, seed)


SCENARIOS: dict[str, Scenario] = {
    s.model: s
    for s in (
        # 0.5% 5xx and a p95 well under 1.5 s. Its stable track never answered 5xx, so has no 5xx
        # series at all: the error rate must still be 0, not "no data".
        Scenario(
            "chat-ok",
            "meta-llama/Llama-3.1-8B-Instruct",
            stable=_healthy_stable(1),
            canary=TrackLoad(1, 197, 2, 1, 4, 0.25, 0.5, 60_000, 16_000, 2),
            verdict="pass",
        ),
        # 6% of the canary's inference requests are 5xx.
        Scenario(
            "chat-errors",
            "mistral-7b",
            stable=_healthy_stable(3),
            canary=TrackLoad(1, 90, 4, 6, 4, 0.25, 0.5, 30_000, 8_000, 4),
            verdict="breach",
        ),
        # No 5xx at all, but 5% of its streams end aborted after their 200 header.
        Scenario(
            "chat-aborts",
            "llama-3b",
            stable=_healthy_stable(11),
            canary=TrackLoad(1, 100, 0, 0, 4, 0.25, 0.5, 30_000, 8_000, 12, aborted=5),
            verdict="breach",
        ),
        # Error-free, but its first tokens take seconds.
        Scenario(
            "chat-slow",
            "qwen-7b",
            stable=_healthy_stable(5),
            canary=TrackLoad(1, 100, 0, 0, 4, 1.30, 0.6, 30_000, 8_000, 6),
            verdict="breach",
        ),
        # 2 requests a step is 40 in 5 minutes, under min_requests 50; half of them fail, which
        # is still not a breach: too little traffic to judge.
        Scenario(
            "chat-quiet",
            "gemma-2b",
            stable=_healthy_stable(7),
            canary=TrackLoad(1, 1, 0, 1, 4, 0.25, 0.5, 600, 150, 8),
            verdict="insufficient_traffic",
        ),
        # Plenty of healthy traffic, but the canary's vLLM series were scraped without the
        # llmctl labels (a ServiceMonitor that misses the relabeling): no TTFT, so no pass.
        Scenario(
            "chat-unlabelled",
            "phi-3",
            stable=_healthy_stable(9),
            canary=TrackLoad(1, 100, 0, 0, 4, 0.25, 0.5, 30_000, 8_000, 10),
            verdict="insufficient_traffic",
            canary_engine_labelled=False,
        ),
    )
}


def _fmt(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else f"{value:.1f}"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def write_openmetrics(path: Path, end: int) -> None:
    """Write every scenario's series, from end - SPAN to end, as OpenMetrics text."""
    steps = range(SPAN // STEP + 1)
    times = [end - SPAN + i * STEP for i in steps]
    pods: list[tuple[dict[str, str], dict[str, str], TrackLoad]] = []
    for s in SCENARIOS.values():
        for track, load in (("stable", s.stable), ("canary", s.canary)):
            for p in range(load.pods):
                target = {
                    "job": "llmctl-vllm",
                    "namespace": "llm",
                    "pod": f"{s.model}-{track}-{p}",
                    "instance": f"10.0.{len(pods)}.1:8000",
                    "llmctl_model": s.model,
                    "track": track,
                }
                engine = {**target, "model_name": s.served_name, "engine": "0"}
                if track == "canary" and not s.canary_engine_labelled:
                    del engine["llmctl_model"], engine["track"]
                pods.append((target, engine, load))

    # One family at a time (OpenMetrics forbids interleaving), each series in time order.
    lines: list[str] = []

    def counter(family: str, series: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# TYPE {family} counter")
        for labels, per_step in series:
            lab = _labels(labels)
            lines.extend(
                f"{family}_total{lab} {_fmt(per_step * i)} {t}"
                for i, t in zip(steps, times, strict=True)
            )

    counter("http_requests", [
        ({**t, "handler": h, "method": m, "status": st}, n)
        for t, _, load in pods
        for h, m, st, n in (
            (INFERENCE_HANDLER, "POST", "2xx", load.ok),
            (INFERENCE_HANDLER, "POST", "4xx", load.client_errors),
            (INFERENCE_HANDLER, "POST", "5xx", load.server_errors),
            ("/v1/models", "GET", "2xx", load.model_polls),
        )
        if n  # the instrumentator creates a status series on its first response only
    ])  # fmt: skip
    counter("vllm:prompt_tokens", [(e, load.prompt_tokens) for _, e, load in pods])
    counter("vllm:generation_tokens", [(e, load.generation_tokens) for _, e, load in pods])
    # Every request the engine finished, by finish reason; a 5xx here never reached it.
    counter("vllm:request_success", [
        ({**e, "finished_reason": reason}, n)
        for _, e, load in pods
        for reason, n in (("stop", load.ok - load.aborted), ("abort", load.aborted))
        if n
    ])  # fmt: skip

    def histogram(family: str, series: list[tuple[dict[str, str], list[tuple[str, int]], float]]):
        lines.append(f"# TYPE {family} histogram")
        for labels, buckets, total in series:
            for i, t in zip(steps, times, strict=True):
                for le, n in buckets:
                    lines.append(f"{family}_bucket{_labels({**labels, 'le': le})} {n * i} {t}")
                lines.append(f"{family}_count{_labels(labels)} {buckets[-1][1] * i} {t}")
                lines.append(f"{family}_sum{_labels(labels)} {_fmt(total * i)} {t}")

    histogram("vllm:time_to_first_token_seconds", [
        (e, load.bucket_counts(), sum(load.ttfts())) for _, e, load in pods
    ])  # fmt: skip
    histogram("vllm:e2e_request_latency_seconds", [
        (e, [("+Inf", load.ok + load.server_errors)], 2.0 * (load.ok + load.server_errors))
        for _, e, load in pods
    ])  # fmt: skip
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    at: float  # the newest sample's time: query there and the figures are exact
    scenarios: dict[str, Scenario]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    reason = "prometheus/promtool not on PATH: run scripts/install-prometheus.sh"
    if os.environ.get("LLMCTL_REQUIRE_PROMETHEUS", "") not in ("", "0"):
        pytest.fail(f"LLMCTL_REQUIRE_PROMETHEUS is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus on 127.0.0.1 holding the scenarios' last hour; stopped after the run."""
    prometheus_bin, promtool = _binaries()
    root = tmp_path_factory.mktemp("prometheus")
    data, source = root / "data", root / "vllm.om.txt"
    end = int(time.time()) // STEP * STEP - STEP
    write_openmetrics(source, end)
    backfill = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if backfill.returncode != 0:
        pytest.fail(f"promtool backfill failed:\n{backfill.stdout}\n{backfill.stderr}")
    config = root / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = (root / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        yield PrometheusServer(url=url, at=float(end), scenarios=SCENARIOS)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"prometheus was not ready within 30s:\n{log.read_text()}")
