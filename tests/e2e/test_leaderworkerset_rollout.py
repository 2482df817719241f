"""A canary rollout of a multi-node model against the real engine, the real LeaderWorkerSet
controller and a real Prometheus: the canary is a whole group of its own (a second
LeaderWorkerSet, its members on their own nodes of the pool), the HTTPRoute weights move in the
API server, a healthy canary is promoted and a failing one rolled back (exit 4).

As in test_rollout.py, Prometheus scrapes a stand-in for the pods' /metrics (kwok pods run no
vLLM); what is real is every object, its controller and the scheduler's placement.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Env, bring_up
from tests.e2e.standin_metrics import MetricsStandIn
from tests.metrics.conftest import _binaries, _wait_ready, free_port

CLUSTER, NAMESPACE, MODEL = "dc1", "llm", "llama-405b"
BASE = (REPO / "examples" / "multi-node" / "llm.yaml").read_text()
API_KEYS = "ci-client=e2e-not-a-real-key-0000"
LWS_KIND = "leaderworkersets.leaderworkerset.x-k8s.io"


def canary_spec(directory: Path, prometheus_url: str, max_model_len: int) -> Path:
    """examples/multi-node with a fast canary analysed by the Prometheus on loopback (its pool
    of 4 nodes has room for one canary group of 2 beside the stable one)."""
    text = BASE.replace(
        "    rollout:\n      strategy: canary\n      steps: [50, 100]\n      interval: 5m\n",
        "    rollout:\n      strategy: canary\n      steps: [50, 100]\n      interval: 8s\n"
        "      analysis: {max_error_rate: 0.05, max_ttft_p95_seconds: 1.0, min_requests: 10}\n",
    ).replace("max_model_len: 8192", f"max_model_len: {max_model_len}")
    text = text.replace(
        "monitoring:\n  prometheus_url: http://prometheus.monitoring:9090\n",
        f"monitoring:\n  prometheus_url: {prometheus_url}\n",
    )
    assert "interval: 8s" in text and prometheus_url in text
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
    root = tmp_path_factory.mktemp("prometheus-lws")
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
    if not (engines / "lws-controller").exists():
        pytest.fail("lws-controller not built: run scripts/e2e build", pytrace=False)
    spec = canary_spec(tmp_path_factory.mktemp("spec"), prometheus, 8192)
    for cluster in bring_up(spec):
        yield Env(cluster, spec, extra={"LLMCTL_API_KEYS": API_KEYS})


class Watch:
    """Polls, while a rollout runs, the routes' weights and the canary groups' pods."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.weights: list[dict[str, int]] = []
        self.canary_pods: dict[str, str] = {}  # pod -> node, of any canary group seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current_weights(self) -> dict[str, int]:
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
                w = self.current_weights()
                if not self.weights or self.weights[-1] != w:
                    self.weights.append(w)
                pods = self.env.get(
                    CLUSTER, "pods", "-n", NAMESPACE, "-l", "llmctl.dev/track=canary"
                )
                for p in pods["items"]:
                    if p["spec"].get("nodeName"):
                        self.canary_pods[p["metadata"]["name"]] = p["spec"]["nodeName"]
            except Exception:  # noqa: BLE001 - a poll between two updates
                pass
            time.sleep(0.5)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def canary_weight(weights: dict[str, int]) -> int:
    return sum(w for name, w in weights.items() if "canary" in name)


def groups(env: Env) -> dict[str, dict]:
    items = env.get(CLUSTER, LWS_KIND, "-n", NAMESPACE)["items"]
    return {i["metadata"]["name"]: i for i in items}


def stable_max_model_len(env: Env) -> int:
    (stable,) = [g for name, g in groups(env).items() if "canary" not in name]
    pod = stable["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
    (config,) = [v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "config"]
    data = env.get(CLUSTER, "configmap", config, "-n", NAMESPACE)["data"]
    return int(json.loads(data["serving.json"])["max_model_len"])


def test_first_apply(env: Env) -> None:
    run = env.llmctl("apply", "-f", str(env.spec), "--yes")
    assert run.code == 0, run.out + run.err
    assert [n for n in groups(env) if "canary" in n] == []
    assert stable_max_model_len(env) == 8192


def test_healthy_canary_group_is_promoted(
    env: Env, prometheus: str, metrics: MetricsStandIn
) -> None:
    metrics.tracks["canary"].health = "ok"
    spec = canary_spec(env.spec.parent, prometheus, 4096)
    with Watch(env) as watch:
        run = env.llmctl("apply", "-f", str(spec), "--yes")
    assert run.code == 0, run.out + run.err
    assert any(canary_weight(w) > 0 for w in watch.weights), watch.weights
    # the canary was a whole group of 2, each member on its own node of the pool
    assert len(watch.canary_pods) == 2, watch.canary_pods
    assert len(set(watch.canary_pods.values())) == 2
    assert all(n.startswith("dc1-h100-") for n in watch.canary_pods.values())
    assert canary_weight(watch.current_weights()) == 0
    assert [n for n in groups(env) if "canary" in n] == []
    assert stable_max_model_len(env) == 4096


def test_failing_canary_group_is_rolled_back_with_exit_4(
    env: Env, prometheus: str, metrics: MetricsStandIn
) -> None:
    metrics.tracks["canary"].health = "failing"
    spec = canary_spec(env.spec.parent, prometheus, 2048)
    with Watch(env) as watch:
        run = env.llmctl("apply", "-f", str(spec), "--yes")
    assert run.code == 4, run.out + run.err
    assert any(canary_weight(w) > 0 for w in watch.weights), watch.weights
    assert len(watch.canary_pods) == 2
    assert canary_weight(watch.current_weights()) == 0  # 100% stable
    assert [n for n in groups(env) if "canary" in n] == []
    assert stable_max_model_len(env) == 4096
    metrics.tracks["canary"].health = "ok"


def test_destroy(env: Env) -> None:
    run = env.llmctl("destroy", "-f", str(env.spec), "--yes")
    assert run.code == 0, run.out + run.err
    assert groups(env) == {}
