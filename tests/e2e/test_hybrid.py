"""examples/hybrid's Kubernetes objects on two real control planes, one per cluster.

The hybrid example's cloud side is an EKS cluster, which no engine here can create (AWS runs
only under Pulumi's mocks), and its DNS stack needs Route 53; so `llmctl apply` cannot run the
example end to end. What this proves instead: the objects `llmctl render` writes for each cluster
(the on-prem gateway that spills to the cloud gateway, the cloud side's KEDA ScaledObject reading
the on-prem Prometheus, the headless Services, Backends and policies) are accepted by a real
kube-apiserver with the pinned CRDs (Envoy Gateway v1.9.0's, KEDA's, prometheus-operator's),
schema and CEL rules included, and every pod lands on its pool's nodes. The planes come from
tests/e2e/specs/hybrid-planes.yaml (the example with its AWS cluster as a second `kubernetes:`
cluster whose kwok nodes carry the EKS node groups' labels). No Envoy, KEDA or vLLM runs: the
spill itself is not exercised (tests/render/test_envoy_translate.py checks what Envoy Gateway
would program).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import REPO, Env, bring_up

PLANES = REPO / "tests" / "e2e" / "specs" / "hybrid-planes.yaml"
EXAMPLE = REPO / "examples" / "hybrid" / "llm.yaml"


def test_hybrid_objects_apply_to_both_planes_and_pods_land_on_their_pools(
    engines: Path, tmp_path: Path
) -> None:
    from llmctl.compile import compile_file
    from llmctl.render.kubernetes import POOL_LABEL

    d = compile_file(EXAMPLE).deployment
    assert [(p.cluster, p.peer) for p in d.gateway.peers] == [("onprem", "aws")]
    out = tmp_path / "rendered"
    for cluster in bring_up(PLANES):
        env = Env(cluster, PLANES)
        render = env.llmctl("render", "-f", str(EXAMPLE), "-o", str(out))
        assert render.code == 0, render.err
        kubectl = cluster.kubectl
        for c in d.clusters:
            # The Secret the stack would create; the pods read their key from it.
            kubectl(c.name, "create", "namespace", c.namespace)
            kubectl(
                c.name, "-n", c.namespace, "create", "secret", "generic",
                f"{d.name}-upstream-key", "--from-literal=VLLM_API_KEY=e2e",
                "--from-literal=credential=Bearer e2e",
            )  # fmt: skip
            applied = kubectl(
                c.name, "apply", "--server-side", "--force-conflicts", "-f", str(out / c.name)
            )
            files = sorted((out / c.name).glob("*.yaml"))
            assert applied.count("serverside-applied") == len(files), applied
        onprem = env.get("onprem", "backends.gateway.envoyproxy.io", "-n", d.name)["items"]
        peer = next(b for b in onprem if b["metadata"]["name"] == f"{d.name}-peer-aws")
        assert peer["spec"]["endpoints"][0]["fqdn"]["hostname"] == "aws.llm.support.example.com"
        assert peer["spec"]["fallback"] is True
        spill = env.get(
            "onprem", "backendtrafficpolicies.gateway.envoyproxy.io",
            f"{d.name}-route-mistral-7b-spill", "-n", d.name,
        )  # fmt: skip
        assert spill["spec"]["healthCheck"]["active"]["http"]["path"] == "/llmctl/room"
        (scaled,) = env.get("aws", "scaledobjects.keda.sh", "-n", d.name)["items"]
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["serverAddress"] == "https://prometheus.rack7.support.example.com"
        # every pod on a node of its own pool, scheduled by the real scheduler
        for c in d.clusters:
            deadline = time.monotonic() + 90
            while True:
                pods = env.get(c.name, "pods", "-n", c.namespace)["items"]
                running = [p for p in pods if p["status"].get("phase") == "Running"]
                if running and len(running) == len(pods) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert running and len(running) == len(pods), [
                (p["metadata"]["name"], p["status"].get("phase")) for p in pods
            ]
            nodes = {n["metadata"]["name"]: n for n in env.get(c.name, "nodes")["items"]}
            for pod in running:
                pool = pod["metadata"]["labels"][POOL_LABEL]
                node = nodes[pod["spec"]["nodeName"]]["metadata"]["labels"]
                assert node["llmctl.e2e/pool"] == f"{c.name}.{pool}", (pod["metadata"]["name"], node)
