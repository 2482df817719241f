"""examples/quickstart through its whole life against the real engine: plan, apply, status,
a change, history, rollback (with an image repository), two applies at once, Ctrl-C, destroy.

The tests of this module run in order on one control plane; each leaves the state the next needs.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Env, bring_up

SPEC = REPO / "examples" / "quickstart" / "llm.yaml"
NAMESPACE = "quickstart"
CLUSTER = "lab"


@pytest.fixture(scope="module")
def env(engines: Path) -> Iterator[Env]:
    for cluster in bring_up(SPEC):
        yield Env(cluster, SPEC)


def rendered(spec: Path, cluster: str, **kwargs: object) -> list[dict]:
    from llmctl.compile import compile_file
    from llmctl.render.cluster import render_cluster_objects

    return render_cluster_objects(compile_file(spec).deployment, cluster, **kwargs)  # type: ignore[arg-type]


def changed_spec(tmp_path: Path, old: str, new: str) -> Path:
    text = SPEC.read_text()
    assert old in text
    path = tmp_path / "llm.yaml"
    path.write_text(text.replace(old, new))
    return path


def deployments(env: Env) -> dict[str, dict]:
    items = env.get(CLUSTER, "deployments", "-n", NAMESPACE)["items"]
    return {d["metadata"]["name"]: d for d in items}


def wait_available(env: Env, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = deployments(env)
        if all(_available(found.get(n)) for n in names):
            return
        time.sleep(1)
    raise AssertionError(f"not Available in {timeout}s: {names}")


def _available(d: dict | None) -> bool:
    conditions = (d or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def test_engines_report_real_versions(env: Env) -> None:
    pulumi = env.cluster.bins / "pulumi"
    import subprocess

    out = subprocess.run([str(pulumi), "version"], capture_output=True, text=True, env=env.environ)
    assert out.stdout.strip() == "v3.260.0"
    api = subprocess.run(
        [str(env.cluster.bins / "kube-apiserver"), "--version"], capture_output=True, text=True
    )
    assert api.stdout.strip() == "Kubernetes v1.36.3"
    assert env.get(CLUSTER, "nodes")["items"]  # the kwok GPU nodes are there


def test_plan_is_a_real_preview(env: Env) -> None:
    run = env.llmctl("plan", "-f", str(SPEC), "--json")
    assert run.code == 0, run.err
    plan = json.loads(run.out)
    assert plan["offline"] is False
    (stack,) = plan["stacks"]
    assert stack["changes"]["create"] >= len(rendered(SPEC, CLUSTER))
    assert {r["op"] for r in stack["resources"]} == {"create"}


def test_apply_creates_every_object_on_its_pool(env: Env) -> None:
    run = env.llmctl("apply", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    for obj in rendered(SPEC, CLUSTER):
        kind, meta = obj["kind"], obj["metadata"]
        ns = ["-n", meta["namespace"]] if meta.get("namespace") else []
        found = env.get(CLUSTER, f"{kind.lower()}.{_group(obj)}", meta["name"], *ns)
        assert found["metadata"]["name"] == meta["name"]
    names = [o["metadata"]["name"] for o in rendered(SPEC, CLUSTER) if o["kind"] == "Deployment"]
    wait_available(env, names)
    pods = env.get(CLUSTER, "pods", "-n", NAMESPACE)["items"]
    assert len(pods) == 2
    nodes = {n["metadata"]["name"]: n for n in env.get(CLUSTER, "nodes")["items"]}
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]  # the real scheduler placed it
        assert node["metadata"]["labels"]["llmctl.e2e/pool"] == "lab.l4"
        assert pod["status"]["phase"] == "Running"
    assert len({p["spec"]["nodeName"] for p in pods}) == 2  # one L4 each: one pod per node
    again = env.llmctl("plan", "-f", str(SPEC), "--detailed-exitcode")
    assert again.code == 0, again.out + again.err


def _group(obj: dict) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


def test_status_reads_live_replicas(env: Env) -> None:
    run = env.llmctl("status", "-f", str(SPEC), "--json")
    assert run.code == 0, run.err
    status = json.loads(run.out)
    (placement,) = status["models"][0]["placements"]
    assert placement["source"] == "live"
    assert placement["ready"] == 2


def test_an_engine_setting_change_plans_as_an_update(env: Env, tmp_path: Path) -> None:
    spec = changed_spec(tmp_path, "max_model_len: 8192", "max_model_len: 4096")
    run = env.llmctl("plan", "-f", str(spec), "--json")
    assert run.code == 0, run.err
    ops = {(r["type"], r["op"]) for s in json.loads(run.out)["stacks"] for r in s["resources"]}
    assert ("kubernetes:apps/v1:Deployment", "update") in ops
    assert not any(op in ("create", "delete") for _, op in ops)


def test_apply_with_an_image_repository_then_rollback_keeps_it(env: Env, tmp_path: Path) -> None:
    """llmctl's own (bundled) image from a private registry R: a rollback must deploy R again."""
    repo = "registry.example.internal/ml/vllm"
    bundled = changed_spec(
        tmp_path, "max_model_len: 8192", "max_model_len: 8192\n      image: bundled"
    )
    run = env.llmctl("apply", "-f", str(bundled), "--yes", "--image-repository", repo)
    assert run.code == 0, run.out + run.err
    (tmp_path / "next").mkdir()
    changed = changed_spec(
        tmp_path / "next", "max_model_len: 8192", "max_model_len: 4096\n      image: bundled"
    )
    run = env.llmctl("apply", "-f", str(changed), "--yes", "--image-repository", repo)
    assert run.code == 0, run.out + run.err
    history = json.loads(env.llmctl("history", "-f", str(SPEC), "--json").out)
    assert len(history["revisions"]) >= 3
    run = env.llmctl("rollback", "-f", str(SPEC), "--yes")  # no --image-repository here
    assert run.code == 0, run.out + run.err
    for d in deployments(env).values():
        (container,) = [
            c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"
        ]
        assert container["image"].startswith(repo + ":"), container["image"]
        assert "4096" not in json.dumps(d["spec"]["template"])  # the change is undone


def test_rollback_to_the_first_revision_restores_its_objects(env: Env) -> None:
    run = env.llmctl("rollback", "--to", "1", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    want = {o["metadata"]["name"]: o for o in rendered(SPEC, CLUSTER) if o["kind"] == "Deployment"}
    got = deployments(env)
    assert set(want) <= set(got)
    for name, obj in want.items():
        (want_c,) = [
            c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"
        ]
        (got_c,) = [
            c for c in got[name]["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"
        ]
        assert got_c["image"] == want_c["image"]  # revision 1 used the default repository
        assert got_c.get("command") == want_c.get("command")
        assert got_c.get("args") == want_c.get("args")
        # the serving config (max_model_len and every other engine setting) is revision 1's
        want_meta = obj["spec"]["template"]["metadata"]["annotations"]
        got_meta = got[name]["spec"]["template"]["metadata"]["annotations"]
        assert {k: got_meta.get(k) for k in want_meta} == want_meta
    history = json.loads(env.llmctl("history", "-f", str(SPEC), "--json").out)
    assert history["revisions"][0]["restored_from"] == 1


def test_two_concurrent_applies_the_second_is_locked_out(env: Env, tmp_path: Path) -> None:
    spec = changed_spec(tmp_path, "replicas: 2", "replicas: 1")
    first = env.start("apply", "-f", str(spec), "--yes")
    try:
        _wait_for_output(first, re.compile(r"(updating|creating|deleting|~|\+|-) ", re.I), 60)
        second = env.llmctl("apply", "-f", str(spec), "--yes")
        assert second.code == 5, second.out + second.err
        assert "lock" in (second.out + second.err).lower()
    finally:
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out


def test_ctrl_c_mid_apply_exits_130_and_the_next_apply_recovers(env: Env) -> None:
    proc = env.start("apply", "-f", str(SPEC), "--yes")
    _wait_for_output(proc, re.compile(r"(updating|creating|~|\+) ", re.I), 60)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert "llmctl apply" in out  # it says how to recover
    run = env.llmctl("apply", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    assert env.llmctl("plan", "-f", str(SPEC), "--detailed-exitcode").code == 0


def test_destroy_leaves_no_llmctl_object(env: Env) -> None:
    run = env.llmctl("destroy", "-f", str(SPEC), "--yes")
    assert run.code == 0, run.out + run.err
    kinds = "deployments,services,configmaps,serviceaccounts,poddisruptionbudgets,networkpolicies,horizontalpodautoscalers"
    left = env.get(CLUSTER, kinds, "-A", "-l", "app.kubernetes.io/managed-by=llmctl")["items"]
    assert left == []
    for crd_kind in ("gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"):
        assert env.get(CLUSTER, crd_kind, "-A")["items"] == []
    namespaces = {n["metadata"]["name"] for n in env.get(CLUSTER, "namespaces")["items"]}
    assert NAMESPACE not in namespaces or _terminating(env)


def _terminating(env: Env) -> bool:
    ns = env.get(CLUSTER, "namespace", NAMESPACE)
    return bool(ns["status"].get("phase") == "Terminating")


def _wait_for_output(proc, pattern: re.Pattern[str], timeout: float) -> str:
    """Read the process's output until `pattern` shows (the apply is under way)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if pattern.search(line):
            return seen
    raise AssertionError(f"no progress line in {timeout}s:\n{seen}")
