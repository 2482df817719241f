"""Multi-node models through the real stack programs under Pulumi's mocks: on AWS, an EFA pool's
node groups (launch template with the instance type's EFA interfaces, EFA security group with
its self-referencing rules, cluster placement group, one subnet) and the EFA device plugin; on
any cluster, the LeaderWorkerSet registered after the LWS chart that provides its CRD."""

from __future__ import annotations

import pytest

from llmctl.compile import compile_file
from llmctl.engine.offline import OfflineRun, run_offline
from llmctl.render.cluster import render_cluster_objects
from llmctl.stacks import stack_defs
from tests.stacks.fixtures import named, of_type

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"

AWS = """\
version: 1
name: big
clusters:
  - name: use1
    aws: {region: us-east-1, cluster: {create: true, version: "1.33"}}
    pools:
      - name: h100
        instance_type: p5.48xlarge
        min_nodes: 0
        max_nodes: 4
        disk_gb: 1000
      - name: l40s
        instance_type: g6e.xlarge
        max_nodes: 2
models:
  - name: llama-405b
    source: hf://meta-llama/Llama-3.1-405B-Instruct
    placements:
      - pool: use1/h100
        replicas: 1
    rollout: {strategy: rolling}
  - name: small
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    gpus: 1
    placements:
      - pool: use1/l40s
        replicas: 1
    rollout: {strategy: rolling}
"""


def _run(tmp_path_factory: pytest.TempPathFactory, text: str) -> OfflineRun:
    path = tmp_path_factory.mktemp("spec") / "llm.yaml"
    path.write_text(text)
    d = compile_file(path).deployment
    objects = {c.name: render_cluster_objects(d, c.name) for c in d.clusters}
    (stack,) = stack_defs(d, objects)
    return run_offline(stack.program, stack.name)


@pytest.fixture(scope="module")
def aws_run(tmp_path_factory: pytest.TempPathFactory) -> OfflineRun:
    return _run(tmp_path_factory, AWS)


def test_an_efa_pool_launches_its_nodes_with_every_efa_interface(aws_run: OfflineRun) -> None:
    res = aws_run.resources
    (template,) = of_type(res, LAUNCH_TEMPLATE)  # the h100 pool only: l40s runs no group
    interfaces = template.inputs["networkInterfaces"]
    assert len(interfaces) == 32  # p5.48xlarge
    assert all(i["interfaceType"] == "efa" for i in interfaces)
    assert [i["networkCardIndex"] for i in interfaces] == list(range(32))
    assert interfaces[0]["deviceIndex"] == 0 and {i["deviceIndex"] for i in interfaces[1:]} == {1}
    assert all(len(i["securityGroups"]) == 2 for i in interfaces)  # cluster SG + EFA SG
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 1000
    assert template.inputs["placement"]["groupName"]
    placement = of_type(res, "aws:ec2/placementGroup:PlacementGroup")
    assert [p.inputs["strategy"] for p in placement] == ["cluster"]
    group = named(res, NODE_GROUP, "h100-ondemand")
    assert "diskSize" not in group.inputs and group.inputs["launchTemplate"]
    assert len(group.inputs["subnetIds"]) == 1  # EFA stays in one Availability Zone
    small = named(res, NODE_GROUP, "l40s-ondemand")
    assert small.inputs["diskSize"] == 200 and "launchTemplate" not in small.inputs


def test_the_efa_security_group_allows_all_traffic_within_itself(aws_run: OfflineRun) -> None:
    res = aws_run.resources
    named(res, "aws:ec2/securityGroup:SecurityGroup", "h100-efa")
    rules = of_type(res, "aws:ec2/securityGroupRule:SecurityGroupRule")
    assert sorted(r.inputs["type"] for r in rules) == ["egress", "ingress"]
    for rule in rules:
        assert rule.inputs["protocol"] == "-1"
        assert rule.inputs["sourceSecurityGroupId"] == rule.inputs["securityGroupId"]


def test_the_efa_device_plugin_runs_on_efa_pools_only(aws_run: OfflineRun) -> None:
    plugin = named(aws_run.resources, RELEASE, "efa-device-plugin")
    terms = plugin.inputs["values"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "llmctl.dev/pool", "operator": "In", "values": ["h100"]}]}
    ]


def test_the_leaderworkerset_waits_for_the_lws_chart(aws_run: OfflineRun) -> None:
    res = aws_run.resources
    lws_release = named(res, RELEASE, "lws")
    assert lws_release.inputs["chart"] == "oci://registry.k8s.io/lws/charts/lws"
    (lws,) = of_type(res, LWS)
    assert lws.inputs["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert "16 GPU (2 nodes x 8 GPU)" in lws.summary


def test_no_efa_without_a_multi_node_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    text = AWS.replace("Llama-3.1-405B-Instruct", "Llama-3.1-8B-Instruct")
    run = _run(tmp_path_factory, text)
    assert of_type(run.resources, LAUNCH_TEMPLATE) == []
    assert [
        r for r in of_type(run.resources, RELEASE) if r.name in ("efa-device-plugin", "lws")
    ] == []


def test_the_lws_chart_comes_from_a_local_source_or_is_left_to_the_cluster(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = tmp_path_factory.mktemp("charts") / "lws"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: lws\nversion: 0.8.0\n")
    monkeypatch.setenv("LLMCTL_ADDONS", f"lws={chart}")
    run = _run(tmp_path_factory, AWS)
    release = named(run.resources, RELEASE, "lws")
    assert release.inputs["chart"] == str(chart) and not release.inputs.get("version")
    monkeypatch.setenv("LLMCTL_ADDONS", "lws=existing")
    run = _run(tmp_path_factory, AWS)
    assert [r for r in of_type(run.resources, RELEASE) if r.name == "lws"] == []
    assert len(of_type(run.resources, LWS)) == 1
