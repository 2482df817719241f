"""The AWS cluster stack, run for real under Pulumi's mocks: network, EKS, GPU node groups, IAM."""

from __future__ import annotations

import json
import os

import pytest
from llmctl.stacks import stack_defs
from llmctl.stacks.aws_addons import priorities_yaml, s3_read_policy
from llmctl.stacks.charts import CLUSTER_AUTOSCALER, NVIDIA_DEVICE_PLUGIN

from llmctl.engine.offline import OfflineRun, run_offline
from tests.stacks.fixtures import (
    API_KEYS_ENV,
    MODEL_BUCKET,
    MODEL_PREFIX,
    NAMESPACE,
    deployment,
    named,
    objects_by_cluster,
    of_type,
)

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
RELEASE = "kubernetes:helm.sh/v3:Release"
CA = "k8s.io/cluster-autoscaler"


def _run(**kwargs: object) -> OfflineRun:
    old = os.environ.get(API_KEYS_ENV)
    os.environ[API_KEYS_ENV] = "ci=sk-test-aws-0001"
    try:
        cloud = stack_defs(deployment(**kwargs), objects_by_cluster())[0]  # type: ignore[arg-type]
        assert (cloud.name, cloud.kind) == ("support-bot-cloud", "aws-cluster")
        return run_offline(cloud.program, cloud.name)
    finally:
        if old is None:
            os.environ.pop(API_KEYS_ENV, None)
        else:
            os.environ[API_KEYS_ENV] = old


@pytest.fixture(scope="module")
def created() -> OfflineRun:
    return _run()


@pytest.fixture(scope="module")
def adopted() -> OfflineRun:
    return _run(existing="prod-eks")


def test_network_and_control_plane_when_created(created: OfflineRun) -> None:
    res = created.resources
    vpc = named(res, "aws:ec2/vpc:Vpc", "support-bot-cloud")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    subnets = of_type(res, "aws:ec2/subnet:Subnet")
    zones = {s.inputs["availabilityZone"] for s in subnets}
    assert zones == {"us-west-2a", "us-west-2b", "us-west-2c"}  # from the mocked AZ invoke
    assert sum("kubernetes.io/role/elb" in s.inputs["tags"] for s in subnets) == 3
    assert sum("kubernetes.io/role/internal-elb" in s.inputs["tags"] for s in subnets) == 3
    assert len(of_type(res, "aws:ec2/natGateway:NatGateway")) == 1
    assert len(of_type(res, "aws:ec2/internetGateway:InternetGateway")) == 1
    eks = named(res, "aws:eks/cluster:Cluster", "support-bot-cloud")
    assert eks.inputs["version"] == "1.33" and eks.inputs["name"] == "support-bot-cloud"
    assert eks.summary == "Kubernetes 1.33"
    policies = {
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for r in of_type(res, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert policies == {
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    }
    addon = named(res, "aws:eks/addon:Addon", "cloud-pod-identity-agent")
    assert addon.inputs["addonName"] == "eks-pod-identity-agent"


def test_gpu_node_groups(created: OfflineRun) -> None:
    groups = {r.name: r for r in of_type(created.resources, NODE_GROUP)}
    assert set(groups) == {"cloud-system", "l40s-spot", "l40s-ondemand", "a10g-ondemand"}
    spot, ondemand = groups["l40s-spot"].inputs, groups["l40s-ondemand"].inputs
    for inputs in (spot, ondemand, groups["a10g-ondemand"].inputs):
        assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
        assert inputs["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
        ]
        assert inputs["clusterName"] == "support-bot-cloud"
    assert spot["capacityType"] == "SPOT" and ondemand["capacityType"] == "ON_DEMAND"
    assert spot["instanceTypes"] == ["g6e.xlarge"] and spot["diskSize"] == 300
    assert spot["scalingConfig"] == {"minSize": 0, "maxSize": 8, "desiredSize": 0}
    assert ondemand["scalingConfig"] == {"minSize": 0, "maxSize": 8, "desiredSize": 0}
    assert spot["labels"] == {
        "llmctl.dev/pool": "l40s",
        "llmctl.dev/gpu": "L40S",
        "nvidia.com/gpu.product": "NVIDIA-L40S",
    }
    a10g = groups["a10g-ondemand"].inputs
    assert a10g["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    assert a10g["capacityType"] == "ON_DEMAND" and a10g["diskSize"] == 200
    assert groups["l40s-spot"].summary == "g6e.xlarge x 0..8, spot"
    assert groups["a10g-ondemand"].summary == "g5.12xlarge x 1..2, on-demand"
    system = groups["cloud-system"].inputs
    assert "taints" not in system and system["amiType"] == "AL2023_x86_64_STANDARD"


def test_autoscaler_node_template_tags_on_group_and_asg(created: OfflineRun) -> None:
    res = created.resources
    a10g = named(res, NODE_GROUP, "a10g-ondemand").inputs["tags"]
    expected = {
        f"{CA}/enabled": "true",
        f"{CA}/support-bot-cloud": "owned",
        f"{CA}/node-template/label/llmctl.dev/pool": "a10g",
        f"{CA}/node-template/label/nvidia.com/gpu.product": "NVIDIA-A10G",
        f"{CA}/node-template/taint/nvidia.com/gpu": "present:NoSchedule",
        f"{CA}/node-template/resources/nvidia.com/gpu": "4",
    }
    assert expected.items() <= a10g.items()
    # EKS does not copy node group tags to the Auto Scaling group: llmctl does, for the templates.
    on_asg = {
        r.inputs["tag"]["key"]: r.inputs["tag"]["value"]
        for r in of_type(res, ASG_TAG)
        if r.name.startswith("a10g-ondemand-")
    }
    assert {k: v for k, v in expected.items() if "/node-template/" in k}.items() <= on_asg.items()
    asg_names = {r.inputs["autoscalingGroupName"] for r in of_type(res, ASG_TAG)}
    assert len(asg_names) == 3 and all(n.startswith("eks-") for n in asg_names)


def test_cluster_autoscaler_prefers_spot(created: OfflineRun) -> None:
    res = created.resources
    release = named(res, RELEASE, "cluster-autoscaler").inputs
    assert release["chart"] == "cluster-autoscaler"
    assert release["version"] == CLUSTER_AUTOSCALER.version
    assert release["values"]["extraArgs"]["expander"] == "priority"
    assert release["values"]["autoDiscovery"] == {"clusterName": "support-bot-cloud"}
    assert release["values"]["image"] == {"tag": "v1.33.0"}
    config = named(res, "kubernetes:core/v1:ConfigMap", "cluster-autoscaler-priority-expander")
    assert config.inputs["metadata"] == {
        "name": "cluster-autoscaler-priority-expander",
        "namespace": "kube-system",
    }
    asg = {
        r.name.split("-label/")[0]: r.inputs["autoscalingGroupName"]
        for r in of_type(res, ASG_TAG)
        if "-label/" in r.name
    }
    text = config.inputs["data"]["priorities"]
    lines = text.splitlines()
    assert lines.index("50:") < lines.index(f"  - '^{asg['l40s-spot']}$'") < lines.index("10:")
    assert lines.index("10:") < lines.index(f"  - '^{asg['l40s-ondemand']}$'") < lines.index("1:")
    assert lines[-1] == "  - '.*'"
    association = named(
        res, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "cloud-cluster-autoscaler"
    ).inputs
    assert (association["namespace"], association["serviceAccount"]) == (
        "kube-system",
        "cluster-autoscaler",
    )
    policy = json.loads(
        named(res, "aws:iam/rolePolicy:RolePolicy", "cloud-cluster-autoscaler").inputs["policy"]
    )
    resize = policy["Statement"][0]
    assert resize["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{CA}/support-bot-cloud": "owned"}
    }


def test_priorities_yaml_orders_highest_first() -> None:
    text = priorities_yaml([(10, "eks-b"), (50, "eks-a")])
    assert text == "50:\n  - '^eks-a$'\n10:\n  - '^eks-b$'\n1:\n  - '.*'\n"


def test_device_plugin_release(created: OfflineRun) -> None:
    release = named(created.resources, RELEASE, "nvidia-device-plugin").inputs
    assert release["chart"] == "nvidia-device-plugin"
    assert release["version"] == NVIDIA_DEVICE_PLUGIN.version
    assert release["repositoryOpts"] == {"repo": "https://nvidia.github.io/k8s-device-plugin"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in release[
        "values"
    ]["tolerations"]
    terms = release["values"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "llmctl.dev/pool", "operator": "Exists"}]}]


def test_model_role_reads_only_its_bucket_prefix(created: OfflineRun) -> None:
    res = created.resources
    roles = {r.name for r in of_type(res, "aws:iam/role:Role")}
    assert "mistral-7b-serving" in roles and "llama-8b-serving" not in roles  # hf source: none
    trust = json.loads(
        named(res, "aws:iam/role:Role", "mistral-7b-serving").inputs["assumeRolePolicy"]
    )
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(
        named(res, "aws:iam/rolePolicy:RolePolicy", "mistral-7b-serving-s3").inputs["policy"]
    )
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:GetObject", "s3:ListBucket"}
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {
        f"arn:aws:s3:::{MODEL_BUCKET}/{MODEL_PREFIX}/*",
        f"arn:aws:s3:::{MODEL_BUCKET}",
    }
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    listing = next(s for s in policy["Statement"] if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": [MODEL_PREFIX, f"{MODEL_PREFIX}/*"]}
    }
    association = named(
        res, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "mistral-7b-serving"
    ).inputs
    assert association["serviceAccount"] == "mistral-7b-serving"
    assert association["namespace"] == NAMESPACE
    assert association["roleArn"].endswith(":role/mistral-7b-serving")


def test_s3_policy_without_prefix_is_still_one_bucket() -> None:
    policy = s3_read_policy("s3://only-bucket")
    assert policy["Statement"][0]["Resource"] == ["arn:aws:s3:::only-bucket/*"]
    assert policy["Statement"][1]["Resource"] == ["arn:aws:s3:::only-bucket"]


def test_ecr_repository(created: OfflineRun) -> None:
    repo = named(created.resources, "aws:ecr/repository:Repository", "support-bot-vllm").inputs
    assert repo["name"] == "support-bot/vllm"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created.outputs["image_repository"].endswith(".amazonaws.com/support-bot/vllm")


def test_every_taggable_aws_resource_is_tagged(created: OfflineRun) -> None:
    taggable = [r for r in created.resources if r.type.startswith("aws:") and "tags" in r.inputs]
    assert len(taggable) > 20
    for r in taggable:
        assert r.inputs["tags"]["llmctl:deployment"] == "support-bot", r.name
        assert r.inputs["tags"]["team"] == "ml" and r.inputs["tags"]["cost-center"] == "42"
        assert r.inputs["tags"]["llmctl:cluster"] == "cloud", r.name
    assert named(created.resources, NODE_GROUP, "l40s-spot").inputs["tags"]["llmctl:pool"] == "l40s"
    untagged = {
        r.type for r in created.resources if r.type.startswith("aws:") and "tags" not in r.inputs
    }
    assert untagged <= {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:autoscaling/tag:Tag",
    }


def test_in_cluster_objects_use_the_eks_kubeconfig(created: OfflineRun) -> None:
    provider = named(created.resources, "pulumi:providers:kubernetes", "k8s-cloud").inputs
    kubeconfig = json.loads(provider["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"].endswith(".eks.amazonaws.com")
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == [
        "eks",
        "get-token",
        "--cluster-name",
        "support-bot-cloud",
    ]
    assert created.outputs["cluster_name"] == "support-bot-cloud"
    assert created.outputs["gateway_endpoint"].endswith(".elb.amazonaws.com")


def test_adopted_cluster_creates_no_network_or_control_plane(adopted: OfflineRun) -> None:
    types = {r.type for r in adopted.resources}
    assert "aws:ec2/vpc:Vpc" not in types and "aws:eks/cluster:Cluster" not in types
    assert "aws:eks/addon:Addon" not in types
    groups = {r.name: r.inputs for r in of_type(adopted.resources, NODE_GROUP)}
    assert set(groups) == {"l40s-spot", "l40s-ondemand", "a10g-ondemand"}
    spot = groups["l40s-spot"]
    assert spot["clusterName"] == "prod-eks"
    assert len(spot["subnetIds"]) == 3 and all(s.startswith("subnet-") for s in spot["subnetIds"])
    release = named(adopted.resources, RELEASE, "cluster-autoscaler").inputs
    assert release["values"]["autoDiscovery"] == {"clusterName": "prod-eks"}
    assert "nodeSelector" not in release["values"]
