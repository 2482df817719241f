"""A canary rollout against the real engine and a real Prometheus: the HTTPRoute weights move in
the API server at each step; a healthy canary is promoted, a failing one rolled back (exit 4).

The Prometheus is real (Debian's package) and scrapes, every second, a stand-in for the pods'
/metrics (tests/e2e/standin_metrics.py): kwok pods run no vLLM.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO, Env, bring_up
from tests.e2e.standin_metrics import MetricsStandIn
from tests.metrics.conftest import _binaries, _wait_ready, free_port

CLUSTER, NAMESPACE, MODEL = "lab", "quickstart", "qwen-7b"
BASE = (REPO / "examples" / "quickstart" / "llm.yaml").read_text()


def canary_spec(directory: Path, prometheus_url: str, max_model_len: int) -> Path:
    """The quickstart with a fast canary (and a node more, for its replica), analysed by the
    Prometheus on loopback."""
    text = BASE.replace(
        "    rollout:\n      strategy: rolling\n",
        "    rollout:\n      strategy: canary\n      steps: [50, 100]\n      interval: 8s\n"
        "      analysis: {max_error_rate: 0.05, max_ttft_p95_seconds: 1.0, min_requests: 10}\n",
    ).replace("max_model_len: 8192", f"max_model_len: {max_model_len}")
    text = text.replace("nodes: 2", "nodes: 3")  # room for the canary's replica
    assert "strategy: canary" in text
    text += f"\nmonitoring:\n  prometheus_url: {prometheus_url}\n"
    path = directory / f"canary-{max_model_len}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def metrics() -> Iterator[MetricsStandIn]:
    stand_in = MetricsStandIn(NAMESPACE, MODEL, MODEL).serve()
    yield stand_in
    stand_in.close()


@pytest.fixture(scope="module")
def prometheus(metrics: MetricsStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, _ = _binaries()
    root = tmp_path_factory.mktemp("prometheus-e2e")
    config = root / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: vllm-standin\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['{metrics.url}']}}]\n"
    )
    port = free_port()
    log = (root / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def env(engines: Path, prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    spec = canary_spec(tmp_path_factory.mktemp("spec"), prometheus, 8192)
    for cluster in bring_up(spec):
        yield Env(cluster, spec)


class RouteWatch:
    """Polls the HTTPRoutes' backend weights in the API server while a rollout runs."""

    def __init__(self, env: Env) -> None:
        self.env, self.seen = env, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def weights(self) -> dict[str, int]:
        routes = self.env.get(CLUSTER, "httproutes", "-n", NAMESPACE)["items"]
        out: dict[str, int] = {}
        for route in routes:
            for rule in route["spec"].get("rules", []):
                for ref in rule.get("backendRefs", []):
                    out[ref["name"]] = out.get(ref["name"], 0) + int(ref.get("weight", 1))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                w = self.weights()
            except Exception:  # noqa: BLE001 - a poll between two updates
                w = None
            if w and (not self.seen or self.seen[-1] != w):
                self.seen.append(w)
            time.sleep(0.5)

    def __enter__(self) -> RouteWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def canary_weight(weights: dict[str, int]) -> int:
    return sum(w for name, w in weights.items() if "canary" in name)


def vllm_args(env: Env) -> list[str]:
    """What the stable track runs: its container's command and args, and the serving config
    (max_model_len among it) of the ConfigMaps its pods mount."""
    items = env.get(CLUSTER, "deployments", "-n", NAMESPACE)["items"]
    (d,) = [d for d in items if "canary" not in d["metadata"]["name"]]
    pod = d["spec"]["template"]["spec"]
    (c,) = [c for c in pod["containers"] if c["name"] == "vllm"]
    mounted = {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    maps = env.get(CLUSTER, "configmaps", "-n", NAMESPACE)["items"]
    data = [json.dumps(m.get("data", {})) for m in maps if m["metadata"]["name"] in mounted]
    assert data, mounted
    return [str(a) for a in [*c.get("command", []), *c.get("args", [])]] + data


def canary_deployments(env: Env) -> list[str]:
    items = env.get(CLUSTER, "deployments", "-n", NAMESPACE)["items"]
    return [d["metadata"]["name"] for d in items if "canary" in d["metadata"]["name"]]


def test_first_apply(env: Env) -> None:
    run = env.llmctl("apply", "-f", str(env.spec), "--yes")
    assert run.code == 0, run.out + run.err
    assert canary_weight(RouteWatch(env).weights()) == 0


def test_prometheus_sees_the_stand_in(prometheus: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(f"{prometheus}/api/v1/query", params={"query": "http_requests_total"})
        if r.json()["data"]["result"]:
            return
        time.sleep(1)
    raise AssertionError("Prometheus scraped nothing from the stand-in")


def test_healthy_canary_moves_the_weights_and_is_promoted(
    env: Env, prometheus: str, metrics: MetricsStandIn
) -> None:
    metrics.tracks["canary"].health = "ok"
    spec = canary_spec(env.spec.parent, prometheus, 4096)
    with RouteWatch(env) as watch:
        run = env.llmctl("apply", "-f", str(spec), "--yes")
    assert run.code == 0, run.out + run.err
    canary = [canary_weight(w) for w in watch.seen]
    assert any(c > 0 for c in canary), watch.seen  # the step at 50% reached the API server
    assert canary_weight(watch.weights()) == 0  # promoted: all traffic on stable again
    assert canary_deployments(env) == []
    assert any("4096" in a for a in vllm_args(env))  # stable now runs the new setting


def test_failing_canary_is_rolled_back_with_exit_4(
    env: Env, prometheus: str, metrics: MetricsStandIn
) -> None:
    metrics.tracks["canary"].health = "failing"
    spec = canary_spec(env.spec.parent, prometheus, 2048)
    with RouteWatch(env) as watch:
        run = env.llmctl("apply", "-f", str(spec), "--yes")
    assert run.code == 4, run.out + run.err
    assert any(canary_weight(w) > 0 for w in watch.seen), watch.seen
    assert canary_weight(watch.weights()) == 0  # 100% stable
    assert canary_deployments(env) == []
    args = vllm_args(env)
    assert any("4096" in a for a in args) and not any("2048" in a for a in args)
    metrics.tracks["canary"].health = "ok"


def test_destroy(env: Env) -> None:
    run = env.llmctl("destroy", "-f", str(env.spec), "--yes")
    assert run.code == 0, run.out + run.err
