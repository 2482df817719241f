"""Envoy Gateway installed from a local chart directory (no chart registry), through the real
engine: the plan says where the chart comes from, the Helm release's controller becomes
Available on the cluster's system node, destroy removes it.

The chart is Envoy Gateway's own, read from its Go module at the version the CRDs come from;
its values.yaml is generated from values.tmpl.yaml as its Makefile does (the file is not in the
module zip).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.e2e import controlplane
from tests.e2e.conftest import REPO, Env, bring_up

SPEC = REPO / "examples" / "quickstart" / "llm.yaml"
EG_NAMESPACE = "envoy-gateway-system"


def envoy_gateway_chart(directory: Path) -> Path:
    module, version, _ = controlplane.CRD_MODULES["envoy-gateway"]
    source = controlplane.module_dir(module, version) / "charts" / "gateway-helm"
    chart = directory / "gateway-helm"
    shutil.copytree(source, chart)
    chart.chmod(0o755)
    template = (chart / "values.tmpl.yaml").read_text()
    values = template.replace("${GatewayImage}", f"docker.io/envoyproxy/gateway:{version}")
    values = values.replace("${GatewayImagePullPolicy}", "IfNotPresent")
    # The topology injector is a mutating webhook on pod bindings behind a ClusterIP Service: the
    # API server would call 10.96.x.x:9443, and here there is no pod network (only loopback), so
    # that call would leave the machine. Off for this test; in a real cluster it stays on.
    assert "topologyInjector:\n  enabled: true" in values
    values = values.replace(
        "topologyInjector:\n  enabled: true", "topologyInjector:\n  enabled: false"
    )
    (chart / "values.yaml").write_text(values)
    for path in chart.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return chart


def test_envoy_gateway_from_a_local_chart(engines: Path, tmp_path: Path) -> None:
    chart = envoy_gateway_chart(tmp_path)
    for cluster in bring_up(SPEC):
        env = Env(cluster, SPEC, extra={"LLMCTL_ADDONS": f"envoy-gateway={chart},keda=existing"})
        run = env.llmctl("plan", "-f", str(SPEC), "--json")
        assert run.code == 0, run.out + run.err
        plan = json.loads(run.out)
        assert plan["addons"] == {
            "lab": [
                f"envoy-gateway: chart from {chart} (set by LLMCTL_ADDONS)",
                "keda: not installed (the cluster runs it) (set by LLMCTL_ADDONS)",
            ]
        }
        releases = [
            r for s in plan["stacks"] for r in s["resources"] if r["type"].endswith("Release")
        ]
        assert [r["name"] for r in releases] == ["envoy-gateway"]
        run = env.llmctl("apply", "-f", str(SPEC), "--yes")
        assert run.code == 0, run.out + run.err
        deadline = time.monotonic() + 60
        while True:
            items = env.get("lab", "deployments", "-n", EG_NAMESPACE)["items"]
            ready = [d for d in items if d["status"].get("availableReplicas")]
            if ready or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert [d["metadata"]["name"] for d in ready] == ["envoy-gateway"]
        run = env.llmctl("destroy", "-f", str(SPEC), "--yes")
        assert run.code == 0, run.out + run.err
        assert env.get("lab", "deployments", "-n", EG_NAMESPACE)["items"] == []
