"""The hybrid example's stacks under Pulumi's mocks: the cloud cluster accepts the on-prem
gateway's key (never shown), and a created EKS cluster gets its Prometheus before its
ServiceMonitor."""

from __future__ import annotations

import json
import os

import pytest

from llmctl.compile import compile_file
from llmctl.engine.offline import OfflineRun, run_offline
from llmctl.render.cluster import render_cluster_objects
from llmctl.render.upstream_auth import peer_keys, upstream_key
from llmctl.stacks import stack_defs
from llmctl.stacks.charts import KUBE_PROMETHEUS_STACK, crd_provider
from tests.conftest import example

RELEASE = "kubernetes:helm.sh/v3:Release"
KEYS_ENV = "LLMCTL_API_KEYS"  # what examples/hybrid names
PASSPHRASE = "stack-tests-passphrase"  # tests/stacks/conftest.py


@pytest.fixture(scope="module")
def hybrid():
    d = compile_file(example("hybrid")).deployment
    return d, {c.name: render_cluster_objects(d, c.name) for c in d.clusters}


def _run(hybrid, cluster: str) -> OfflineRun:
    d, objects = hybrid
    old = os.environ.get(KEYS_ENV)
    os.environ[KEYS_ENV] = "alice=sk-hybrid-alice-0001"
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    try:
        (stack,) = [s for s in stack_defs(d, objects) if s.name == f"{d.name}-{cluster}"]
        return run_offline(stack.program, stack.name)
    finally:
        if old is None:
            os.environ.pop(KEYS_ENV, None)
        else:
            os.environ[KEYS_ENV] = old


def test_the_cloud_accepts_the_onprem_gateways_own_key(hybrid) -> None:
    d, _ = hybrid
    keys = peer_keys(PASSPHRASE, d, "aws")
    # what the on-prem gateway's credential injection sends upstream: its pods' key
    assert keys == {"llmctl-peer-onprem": upstream_key(PASSPHRASE, d.name, "onprem")}
    assert peer_keys(PASSPHRASE, d, "onprem") == {}  # nothing spills into on-prem
    run = _run(hybrid, "aws")
    (secret,) = [
        r
        for r in run.resources
        if r.type == "kubernetes:core/v1:Secret" and r.name.endswith("-api-keys")
    ]
    assert secret.inputs["stringData"] == "[secret]"
    dumped = json.dumps([r.inputs for r in run.resources]) + json.dumps(run.outputs)
    assert keys["llmctl-peer-onprem"] not in dumped and "sk-hybrid-alice-0001" not in dumped


def test_a_created_cluster_gets_its_prometheus_first(hybrid) -> None:
    run = _run(hybrid, "aws")
    releases = {r.name: r for r in run.resources if r.type == RELEASE}
    kps = releases[KUBE_PROMETHEUS_STACK.release]
    assert kps.inputs["namespace"] == "monitoring"
    spec = kps.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False  # picks up llmctl's
    assert [r for r in run.resources if r.type.endswith(":ServiceMonitor")]
    # the ServiceMonitor's CRD comes from that chart here (the objects wait for its release)
    d, _ = hybrid
    assert crd_provider(d.cluster("aws"), "monitoring.coreos.com") is KUBE_PROMETHEUS_STACK
    assert crd_provider(d.cluster("onprem"), "monitoring.coreos.com") is None


def test_an_existing_cluster_gets_no_prometheus(hybrid) -> None:
    run = _run(hybrid, "onprem")
    assert KUBE_PROMETHEUS_STACK.release not in {r.name for r in run.resources if r.type == RELEASE}
