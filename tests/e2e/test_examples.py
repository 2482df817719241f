"""examples/onprem and examples/multi-model applied to real control planes and destroyed.

Each apply must create every rendered object, let the real scheduler put each pod on a node of
its own pool (the kwok nodes carry the pool's node selector), and leave nothing to plan; destroy
must leave no llmctl object behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Env, bring_up

API_KEYS = "ci-client=e2e-not-a-real-key-0000"


@pytest.mark.parametrize("example", ["onprem", "multi-model"])
def test_apply_places_every_pod_on_its_pool_and_destroy_cleans_up(
    engines: Path, example: str
) -> None:
    from llmctl.compile import compile_file
    from llmctl.render.cluster import render_cluster_objects

    spec = REPO / "examples" / example / "llm.yaml"
    d = compile_file(spec).deployment
    for cluster in bring_up(spec):
        env = Env(cluster, spec, extra={"LLMCTL_API_KEYS": API_KEYS})
        run = env.llmctl("plan", "-f", str(spec), "--json")
        assert run.code == 0, run.out + run.err
        assert json.loads(run.out)["offline"] is False
        run = env.llmctl("apply", "-f", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        for c in d.clusters:
            objects = render_cluster_objects(d, c.name)
            for obj in objects:
                meta = obj["metadata"]
                ns = ["-n", meta["namespace"]] if meta.get("namespace") else []
                group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
                env.get(c.name, f"{obj['kind'].lower()}.{group}", meta["name"], *ns)
            _check_pods_on_their_pools(env, c.name, c.namespace, objects)
        assert env.llmctl("plan", "-f", str(spec), "--detailed-exitcode").code == 0
        # The API keys went into a Secret, never into the output.
        assert "e2e-not-a-real-key" not in run.out + run.err
        run = env.llmctl("destroy", "-f", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        for c in d.clusters:
            left = env.get(
                c.name, "deployments,services,configmaps,secrets", "-A",
                "-l", "app.kubernetes.io/managed-by=llmctl",
            )["items"]  # fmt: skip
            assert left == []


def _check_pods_on_their_pools(env: Env, cluster: str, namespace: str, objects: list) -> None:
    wanted = {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["namespace"] == namespace
    }
    deadline = time.monotonic() + 90
    while True:
        pods = env.get(cluster, "pods", "-n", namespace)["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        expected = sum(int(o["spec"].get("replicas", 1)) for o in wanted.values())
        if len(running) >= expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(running) >= expected, [
        (p["metadata"]["name"], p["status"].get("phase")) for p in pods
    ]
    from llmctl.render.kubernetes import POOL_LABEL

    nodes = {n["metadata"]["name"]: n for n in env.get(cluster, "nodes")["items"]}
    for pod in running:
        pool = pod["metadata"]["labels"][POOL_LABEL]  # the pool llmctl meant it for
        node = nodes[pod["spec"]["nodeName"]]  # where the real scheduler put it
        assert node["metadata"]["labels"]["llmctl.e2e/pool"] == f"{cluster}.{pool}"
