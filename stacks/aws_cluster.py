"""An EKS cluster for one llmctl cluster: network, control plane, IAM and GPU node groups.

Built with pulumi-aws v7 resources only (no pulumi-eks component), so every resource shows up
by its own type in a plan.

- `create: true`: the network (aws_network), the EKS control plane at the IR's Kubernetes
  version with its IAM role, the eks-pod-identity-agent add-on, and a small on-demand `system`
  node group (untainted, 2 x m6i.large) where CoreDNS, cluster-autoscaler and the gateway
  controller run, since every GPU node carries a NoSchedule taint.
- `existing: NAME`: the cluster is adopted with `aws.eks.get_cluster`; node groups go into its
  VPC subnets; it must already run its own system nodes and the eks-pod-identity-agent add-on.

Each pool becomes EKS managed node groups on the `AL2023_x86_64_NVIDIA` AMI (driver and container
toolkit preinstalled), labelled with `llmctl.dev/pool` plus the pool's labels and node selector
(so the serving pods land there), tainted `nvidia.com/gpu=present:NoSchedule`, with min/max
from the pool and desired = min at creation (later owned by the autoscaler, hence
`ignore_changes` on desiredSize).

Spot with on-demand fallback. `capacity: [spot, on-demand]` becomes two node groups, `<pool>-spot`
and `<pool>-ondemand`, each with the pool's max; the first one listed gets the pool's min.
cluster-autoscaler runs with `--expander=priority` and the `cluster-autoscaler-priority-expander`
ConfigMap ranks the spot group's Auto Scaling group above the on-demand one: a pending GPU pod is
served by spot when AWS has spot capacity, and by on-demand when the spot scale-up fails (the
autoscaler marks the spot group as backed off and retries the next priority). The two groups
together never hold more nodes than the pending replicas need, and validation keeps the replicas
within the pool's max, so the pool's max still bounds the cost.

Why cluster-autoscaler and not Karpenter: the spec's pools are node groups with a min and a max,
and cluster-autoscaler scales exactly those managed node groups within those bounds; Karpenter
replaces node groups with its own NodePools and launches instances outside them.

EFA (multi-node models). A pool where compile set `efa_per_node` (a multi-node model runs on
an instance type with EFA: p4d, p4de, p5, p5e, p5en) gets, per node group, a launch template
that attaches that many EFA interfaces (one per network card; the first is the primary
interface), in the cluster security group plus a `<pool>-efa` security group that allows all
traffic to and from itself (EFA's requirement); a cluster placement group; and one subnet (EFA
traffic does not cross Availability Zones). The launch template carries the root volume (EKS
refuses `disk_size` beside a launch template). The EFA device plugin (aws_addons.py) then
advertises `vpc.amazonaws.com/efa`, which the group members request.

Scaling from zero. With no node in a group, cluster-autoscaler learns a node's labels, taints
and GPU count from `k8s.io/cluster-autoscaler/node-template/...` tags. EKS does not copy node
group tags onto the group's Auto Scaling group, so the template tags are set on the node group
and also on its Auto Scaling group (`aws.autoscaling.Tag`), where the autoscaler reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from llmctl.errors import LlmctlError
from llmctl.ir import ClusterIR, Deployment, PoolIR

from .aws_network import build_network
from .tags import aws_tags

POOL_LABEL = "llmctl.dev/pool"
GPU_LABEL = "llmctl.dev/gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_AMI = "AL2023_x86_64_NVIDIA"
SYSTEM_INSTANCE_TYPE = "m6i.large"
SYSTEM_NODES = (2, 3)  # min (= desired), max
CA_TAG = "k8s.io/cluster-autoscaler"
_EKS_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
_EKS_EFFECT["PreferNoSchedule"] = "PREFER_NO_SCHEDULE"
_MANAGED = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class NodeGroupPlan:
    """What one EKS managed node group of a pool looks like; pure data, no Pulumi."""

    logical: str  # "<pool>-spot" / "<pool>-ondemand"
    pool: PoolIR
    capacity: str  # "spot" | "on-demand"
    min_size: int
    max_size: int
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]
    autoscaler_tags: dict[str, str]  # node-template tags, also put on the Auto Scaling group
    priority: int  # for the priority expander: higher wins

    @property
    def capacity_type(self) -> str:
        """EKS's spelling of the capacity."""
        return "SPOT" if self.capacity == "spot" else "ON_DEMAND"


def node_group_plans(eks_name: str, pool: PoolIR) -> list[NodeGroupPlan]:
    """The node groups a pool becomes: one per capacity type, in preference order."""
    labels = {POOL_LABEL: pool.name, GPU_LABEL: pool.gpu_model}
    labels.update(pool.node_labels)
    labels.update(pool.node_selector)  # the pods select on these, so the nodes must carry them
    taints = pool.taints or (GPU_TAINT,)
    template = {f"{CA_TAG}/node-template/label/{k}": v for k, v in sorted(labels.items())}
    for t in taints:
        template[f"{CA_TAG}/node-template/taint/{t['key']}"] = f"{t['value']}:{t['effect']}"
    template[f"{CA_TAG}/node-template/resources/nvidia.com/gpu"] = str(pool.gpus_per_node)
    plans = []
    for i, capacity in enumerate(pool.capacity):
        suffix = "spot" if capacity == "spot" else "ondemand"
        plans.append(
            NodeGroupPlan(
                logical=f"{pool.name}-{suffix}",
                pool=pool,
                capacity=capacity,
                min_size=pool.min_nodes if i == 0 else 0,
                max_size=max(pool.max_nodes, 1),  # EKS needs max >= 1
                labels=labels,
                taints=tuple(taints),
                autoscaler_tags={
                    f"{CA_TAG}/enabled": "true",
                    f"{CA_TAG}/{eks_name}": "owned",
                    **template,
                },
                priority=50 if capacity == "spot" else 10,
            )
        )
    return plans


@dataclass
class EksCluster:
    """What the in-cluster part of the stack needs from the EKS part."""

    name: str  # the EKS cluster's name
    region: str
    provider: aws.Provider
    kubeconfig: pulumi.Output[str]
    ready: list[pulumi.Resource]  # the control plane and system nodes: add-ons wait for these
    vpc_id: pulumi.Input[str] | None = None  # for the EFA security groups
    cluster_security_group: pulumi.Input[str] | None = None
    gpu_groups: dict[str, aws.eks.NodeGroup] = field(default_factory=dict)
    plans: list[NodeGroupPlan] = field(default_factory=list)
    asg_names: dict[str, pulumi.Output[str]] = field(default_factory=dict)  # logical -> ASG
    pod_identity_agent: aws.eks.Addon | None = None


def eks_cluster_name(deployment: Deployment, cluster: ClusterIR) -> str:
    """The EKS cluster's name: the adopted one, or "<deployment>-<cluster>"."""
    return cluster.existing or f"{deployment.name}-{cluster.name}"


def kubeconfig_json(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no credential stored in state)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--region", region],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": user}],
        },
        sort_keys=True,
    )


def build_eks(deployment: Deployment, cluster: ClusterIR) -> EksCluster:
    """Register the cluster's AWS resources: network, EKS (created or adopted), node groups."""
    if not cluster.region:
        raise LlmctlError(f"cluster {cluster.name!r} has no AWS region", hint="set aws.region")
    name = eks_cluster_name(deployment, cluster)
    tags = aws_tags(deployment, cluster.name)
    provider = aws.Provider(f"aws-{cluster.name}", region=cluster.region)
    opts = pulumi.ResourceOptions(provider=provider)
    node_role = _role(f"{cluster.name}-node-role", "ec2.amazonaws.com", tags, opts)
    node_policies = [
        aws.iam.RolePolicyAttachment(
            f"{cluster.name}-node-{policy}",
            role=node_role.name,
            policy_arn=_MANAGED + policy,
            opts=opts,
        )
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
        )
    ]
    ready: list[pulumi.Resource] = []
    agent = None
    if cluster.create:
        private, public = build_network(name, cluster, tags, opts)
        control_plane = _control_plane(name, cluster, private + public, tags, opts)
        endpoint = control_plane.endpoint
        ca_data = control_plane.certificate_authority.apply(lambda ca: ca.data)
        cluster_name: pulumi.Input[str] = control_plane.name
        subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = private
        system = aws.eks.NodeGroup(
            f"{cluster.name}-system",
            cluster_name=cluster_name,
            node_role_arn=node_role.arn,
            subnet_ids=private,
            ami_type="AL2023_x86_64_STANDARD",
            instance_types=[SYSTEM_INSTANCE_TYPE],
            capacity_type="ON_DEMAND",
            scaling_config={
                "min_size": SYSTEM_NODES[0],
                "desired_size": SYSTEM_NODES[0],
                "max_size": SYSTEM_NODES[1],
            },
            labels={"llmctl.dev/role": "system"},
            tags={**tags, "llmctl:pool": "system"},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=node_policies),
        )
        agent = aws.eks.Addon(
            f"{cluster.name}-pod-identity-agent",
            cluster_name=cluster_name,
            addon_name="eks-pod-identity-agent",
            tags=tags,
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[system]),
        )
        ready += [control_plane, system]
        vpc_id: pulumi.Input[str] = control_plane.vpc_config.vpc_id
        cluster_sg: pulumi.Input[str] = control_plane.vpc_config.cluster_security_group_id
    else:
        found = aws.eks.get_cluster_output(
            name=name, region=cluster.region, opts=pulumi.InvokeOptions(provider=provider)
        )
        endpoint = found.endpoint
        ca_data = found.certificate_authorities.apply(lambda cas: cas[0].data)
        cluster_name = found.name
        subnet_ids = found.vpc_config.apply(lambda v: list(v.subnet_ids))  # type: ignore[assignment]
        vpc_id = found.vpc_config.apply(lambda v: v.vpc_id)
        cluster_sg = found.vpc_config.apply(lambda v: v.cluster_security_group_id)
    kubeconfig = pulumi.Output.all(cluster_name, endpoint, ca_data).apply(
        lambda a: kubeconfig_json(a[0], a[1], a[2], cluster.region or "")
    )
    eks = EksCluster(
        name,
        cluster.region,
        provider,
        kubeconfig,
        ready,
        vpc_id=vpc_id,
        cluster_security_group=cluster_sg,
        pod_identity_agent=agent,
    )
    for pool in cluster.pools:
        for plan in node_group_plans(name, pool):
            _gpu_node_group(
                eks, plan, deployment, cluster_name, node_role, subnet_ids, node_policies
            )
    return eks


def _gpu_node_group(
    eks: EksCluster,
    plan: NodeGroupPlan,
    deployment: Deployment,
    cluster_name: pulumi.Input[str],
    node_role: aws.iam.Role,
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    depends_on: list[aws.iam.RolePolicyAttachment],
) -> None:
    """One GPU node group, plus its node-template tags copied onto its Auto Scaling group."""
    pool = plan.pool
    efa: dict[str, Any] = {"disk_size": pool.disk_gb}
    if pool.efa_per_node:
        template = _efa_launch_template(eks, plan, deployment)
        efa = {
            "launch_template": {"id": template.id, "version": template.latest_version.apply(str)}
        }
        # EFA traffic stays within one Availability Zone: the group gets one subnet.
        subnet_ids = pulumi.Output.from_input(subnet_ids).apply(lambda ids: list(ids)[:1])
    group = aws.eks.NodeGroup(
        plan.logical,
        cluster_name=cluster_name,
        node_role_arn=node_role.arn,
        subnet_ids=subnet_ids,
        ami_type=GPU_AMI,
        instance_types=[pool.instance_type or ""],
        capacity_type=plan.capacity_type,
        **efa,
        scaling_config={
            "min_size": plan.min_size,
            "max_size": plan.max_size,
            "desired_size": plan.min_size,
        },
        labels=plan.labels,
        taints=[
            {"key": t["key"], "value": t["value"], "effect": _EKS_EFFECT[t["effect"]]}
            for t in plan.taints
        ],
        update_config={"max_unavailable": 1},
        tags={**aws_tags(deployment, pool.cluster, pool.name), **plan.autoscaler_tags},
        opts=pulumi.ResourceOptions(
            provider=eks.provider,
            depends_on=[*depends_on, *eks.ready],
            # cluster-autoscaler owns the desired size once the group exists
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )
    asg = group.resources.apply(lambda rs: rs[0].autoscaling_groups[0].name)  # type: ignore[index]
    prefix = f"{CA_TAG}/node-template/"
    for key, value in plan.autoscaler_tags.items():
        if key.startswith(prefix):
            aws.autoscaling.Tag(
                f"{plan.logical}-{key.removeprefix(prefix)}",
                autoscaling_group_name=asg,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=pulumi.ResourceOptions(provider=eks.provider),
            )
    eks.gpu_groups[plan.logical] = group
    eks.plans.append(plan)
    eks.asg_names[plan.logical] = asg


def _efa_launch_template(
    eks: EksCluster, plan: NodeGroupPlan, deployment: Deployment
) -> aws.ec2.LaunchTemplate:
    """A node group's launch template with the pool's EFA interfaces, in the cluster security
    group and an EFA security group (all traffic to and from itself), in a cluster placement
    group, with the pool's root volume."""
    pool = plan.pool
    tags = aws_tags(deployment, pool.cluster, pool.name)
    opts = pulumi.ResourceOptions(provider=eks.provider, depends_on=eks.ready)
    sg = aws.ec2.SecurityGroup(
        f"{pool.name}-efa",
        description=f"EFA between the nodes of pool {pool.key}: all traffic within this group",
        vpc_id=eks.vpc_id,
        tags=tags,
        opts=opts,
    )
    for direction in ("ingress", "egress"):
        aws.ec2.SecurityGroupRule(
            f"{pool.name}-efa-{direction}",
            type=direction,
            security_group_id=sg.id,
            source_security_group_id=sg.id,
            protocol="-1",
            from_port=0,
            to_port=0,
            description="EFA: all traffic to and from the same security group",
            opts=opts,
        )
    placement = aws.ec2.PlacementGroup(
        f"{plan.logical}-efa", strategy="cluster", tags=tags, opts=opts
    )
    groups: list[Any] = [eks.cluster_security_group, sg.id]
    interfaces: list[Any] = [
        {
            "device_index": 0 if card == 0 else 1,
            "network_card_index": card,
            "interface_type": "efa",
            "delete_on_termination": "true",
            "security_groups": groups,
        }
        for card in range(pool.efa_per_node)
    ]
    return aws.ec2.LaunchTemplate(
        f"{plan.logical}-efa",
        network_interfaces=interfaces,
        placement={"group_name": placement.name},
        block_device_mappings=[
            {
                "device_name": "/dev/xvda",
                "ebs": {"volume_size": pool.disk_gb, "volume_type": "gp3", "encrypted": "true"},
            }
        ],
        metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 2},  # type: ignore[arg-type]
        tag_specifications=[{"resource_type": "instance", "tags": tags}],
        tags=tags,
        opts=opts,
    )


def _role(
    logical: str, service: str, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> aws.iam.Role:
    """An IAM role that `service` may assume."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    return aws.iam.Role(logical, assume_role_policy=json.dumps(trust), tags=tags, opts=opts)


def _control_plane(
    name: str,
    cluster: ClusterIR,
    subnet_ids: list[pulumi.Output[str]],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.eks.Cluster:
    """The EKS control plane and its IAM role."""
    role = _role(f"{cluster.name}-cluster-role", "eks.amazonaws.com", tags, opts)
    policy = aws.iam.RolePolicyAttachment(
        f"{cluster.name}-cluster-AmazonEKSClusterPolicy",
        role=role.name,
        policy_arn=_MANAGED + "AmazonEKSClusterPolicy",
        opts=opts,
    )
    return aws.eks.Cluster(
        name,
        name=name,  # a fixed name: autoscaler tags and kubeconfigs refer to it
        version=cluster.version,
        role_arn=role.arn,
        vpc_config={
            "subnet_ids": subnet_ids,
            "endpoint_private_access": True,
            "endpoint_public_access": True,
        },
        access_config={
            "authentication_mode": "API_AND_CONFIG_MAP",
            "bootstrap_cluster_creator_admin_permissions": True,
        },
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy])),
    )
