"""examples/multi-node on a real control plane with the real LeaderWorkerSet controller.

The controller (built from sigs.k8s.io/lws by scripts/e2e-build) runs out of cluster against the
loopback API server, with its mutating and validating webhooks served on 127.0.0.1
(controlplane.start_lws_controller). An apply must form the group: a leader and a worker pod,
each on its own kwok node of the h100 pool, with LeaderWorkerSet's environment (how a member
finds its leader) injected by the webhook; the serving Service must reach the leader only; a
second plan must show no change; destroy must remove the groups' pods and StatefulSets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e import controlplane
from tests.e2e.conftest import REPO, Env, bring_up

SPEC = REPO / "examples" / "multi-node" / "llm.yaml"
API_KEYS = "ci-client=e2e-not-a-real-key-0000"
LWS_NAME = "leaderworkerset.sigs.k8s.io/name"


@pytest.fixture(scope="module")
def env(engines: Path):
    if not (engines / "lws-controller").exists():
        pytest.fail("lws-controller not built: run scripts/e2e build", pytrace=False)
    for cluster in bring_up(SPEC):
        yield Env(cluster, SPEC, extra={"LLMCTL_API_KEYS": API_KEYS})


def _pods(env: Env, want: int) -> list[dict]:
    deadline = time.monotonic() + 120
    while True:
        pods = env.get("dc1", "pods", "-n", "llm", "-l", LWS_NAME)["items"]
        ready = [
            p for p in pods
            if p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))
        ]  # fmt: skip
        if len(ready) >= want or time.monotonic() > deadline:
            return ready
        time.sleep(1)


def test_a_group_forms_one_member_per_node_of_its_pool_and_destroy_removes_it(env: Env) -> None:
    from llmctl.compile import compile_file
    from llmctl.render.leaderworkerset import group_name

    d = compile_file(SPEC).deployment
    model = d.models[0]
    plane = env.cluster.planes[0]
    assert controlplane._alive(plane.pids["lws-controller"])  # the real controller runs
    assert model.group is not None
    run = env.llmctl("plan", "-f", str(SPEC), "--json")
    assert run.code == 0, run.out + run.err
    plan = json.loads(run.out)
    assert plan["offline"] is False
    types = {r["type"] for s in plan["stacks"] for r in s["resources"]}
    assert "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet" in types

    run = env.llmctl("apply", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    name = group_name(model, "h100")
    lws = env.get("dc1", "leaderworkersets.leaderworkerset.x-k8s.io", name, "-n", "llm")
    available = {c["type"]: c["status"] for c in lws["status"].get("conditions", [])}
    assert available.get("Available") == "True", lws["status"]
    assert lws["status"]["readyReplicas"] == 1

    size = model.group.size
    pods = _pods(env, size)
    assert len(pods) == size, [p["metadata"]["name"] for p in pods]
    roles = sorted(p["metadata"]["labels"]["llmctl.dev/role"] for p in pods)
    assert roles == ["leader"] + ["worker"] * (size - 1)
    nodes = {n["metadata"]["name"]: n for n in env.get("dc1", "nodes")["items"]}
    placed = [p["spec"]["nodeName"] for p in pods]
    assert len(set(placed)) == size, placed  # one member per node
    for node in placed:
        assert nodes[node]["metadata"]["labels"]["llmctl.e2e/pool"] == "dc1.h100"
    leader = next(p for p in pods if p["metadata"]["labels"]["llmctl.dev/role"] == "leader")
    for pod in pods:
        container = pod["spec"]["containers"][0]
        lws_env = {
            e["name"]: e.get("value") for e in container["env"] if e["name"].startswith("LWS_")
        }
        # Set by LeaderWorkerSet's pod webhook: the launcher turns these into --node-rank and
        # --master-addr (and --headless on workers).
        assert lws_env["LWS_LEADER_ADDRESS"] == f"{leader['metadata']['name']}.{name}.llm"
        assert lws_env["LWS_GROUP_SIZE"] == str(size)
        index = pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/worker-index"]
        assert lws_env["LWS_WORKER_INDEX"] == index
    # The serving Service (what the gateway routes to) reaches the leader only.
    slices = env.get(
        "dc1", "endpointslices", "-n", "llm", "-l", "kubernetes.io/service-name=llama-405b-h100"
    )["items"]
    addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]}
    assert addresses == {leader["status"]["podIP"]}

    assert env.llmctl("plan", "-f", str(SPEC), "--detailed-exitcode").code == 0
    run = env.llmctl("status", "-f", str(SPEC), "--json")
    assert run.code == 0, run.out + run.err
    (placement,) = json.loads(run.out)["models"][0]["placements"]
    assert (placement["source"], placement["replicas"], placement["ready"]) == ("live", 1, 1)

    run = env.llmctl("destroy", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    deadline = time.monotonic() + 60
    while True:
        left = env.get("dc1", "pods,statefulsets,leaderworkersets", "-A", "-l", LWS_NAME)["items"]
        lwss = env.get("dc1", "leaderworkersets", "-A")["items"]
        if (not left and not lwss) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert left == [] and lwss == [], [o["metadata"]["name"] for o in left + lwss]
