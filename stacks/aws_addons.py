"""What an EKS cluster runs besides the models: GPU device plugin, autoscaler, image registry, IAM.

- NVIDIA device plugin (Helm, pinned): advertises `nvidia.com/gpu` on the pool nodes. Its default
  affinity wants node-feature-discovery labels EKS nodes lack, so it is pinned to nodes carrying
  `llmctl.dev/pool`, and it tolerates the GPU taint.
- EFA device plugin (Helm, pinned), only where a pool uses EFA (a multi-node model on an EFA
  instance type): advertises `vpc.amazonaws.com/efa` on those pools' nodes only.
- cluster-autoscaler (Helm, pinned; image tag follows the cluster's Kubernetes minor version)
  with `--expander=priority` and its `cluster-autoscaler-priority-expander` ConfigMap listing the
  exact Auto Scaling group of every node group: spot groups 50, on-demand groups 10, anything
  else 1. Its AWS permissions come through EKS Pod Identity (no OIDC provider, no annotations):
  describe calls on `*`, and SetDesiredCapacity / TerminateInstanceInAutoScalingGroup only on
  groups tagged `k8s.io/cluster-autoscaler/<cluster>: owned`.
- ECR repository `<name>/vllm` for the serving image: scan on push, immutable tags. One per
  region: the first AWS cluster of a region owns it.
- Per model with an `s3://bucket/prefix` source, a role for its pods (ServiceAccount
  `<model>-serving` in the cluster's namespace, via Pod Identity): s3:GetObject on
  `bucket/prefix/*` and s3:ListBucket on `bucket` limited to that prefix. Read-only, one bucket.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from llmctl.ir import ClusterIR, Deployment

from .aws_cluster import CA_TAG, POOL_LABEL, EksCluster
from .charts import CLUSTER_AUTOSCALER, EFA_DEVICE_PLUGIN, NVIDIA_DEVICE_PLUGIN, addon_chart
from .serving import helm_release
from .tags import aws_tags

CA_SERVICE_ACCOUNT = "cluster-autoscaler"
PRIORITY_CONFIGMAP = "cluster-autoscaler-priority-expander"
POD_IDENTITY_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ],
}


def device_plugin(cluster: ClusterIR, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release | None:
    """The NVIDIA device plugin, on llmctl's pool nodes only, tolerating the GPU taint; None
    when the cluster's addons say it already runs one."""
    pin = addon_chart(cluster, NVIDIA_DEVICE_PLUGIN)
    if pin is None:
        return None
    values = {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": POOL_LABEL, "operator": "Exists"}]}
                    ]
                }
            }
        },
    }
    return helm_release(pin, values, opts)


def efa_device_plugin(
    cluster: ClusterIR, opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release | None:
    """The EFA device plugin on the nodes of the pools that use EFA; None when no pool does, or
    when the cluster's addons say it already runs one."""
    pools = [p.name for p in cluster.pools if p.efa_per_node]
    pin = addon_chart(cluster, EFA_DEVICE_PLUGIN)
    if not pools or pin is None:
        return None
    values = {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": POOL_LABEL, "operator": "In", "values": pools}
                            ]
                        }
                    ]
                }
            }
        },
    }
    return helm_release(pin, values, opts)


def priorities_yaml(groups: list[tuple[int, str]]) -> str:
    """The priority expander's config: `{priority: [regex, ...]}`, highest first, catch-all last."""
    by_priority: dict[int, list[str]] = {}
    for priority, asg in groups:
        by_priority.setdefault(priority, []).append(f"^{asg}$")
    by_priority.setdefault(1, []).append(".*")
    lines = []
    for priority in sorted(by_priority, reverse=True):
        lines.append(f"{priority}:")
        lines.extend(f"  - '{regex}'" for regex in by_priority[priority])
    return "\n".join(lines) + "\n"


def cluster_autoscaler(
    deployment: Deployment, cluster: ClusterIR, eks: EksCluster, k8s_opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """cluster-autoscaler: its IAM role and Pod Identity association, priority ConfigMap, release;
    nothing when the cluster's addons say it already runs one."""
    pin = addon_chart(cluster, CLUSTER_AUTOSCALER)
    if pin is None:
        return []
    tags = aws_tags(deployment, cluster.name)
    aws_opts = pulumi.ResourceOptions(provider=eks.provider, depends_on=eks.ready)
    role = aws.iam.Role(
        f"{cluster.name}-cluster-autoscaler",
        assume_role_policy=json.dumps(POD_IDENTITY_TRUST),
        tags=tags,
        opts=aws_opts,
    )
    aws.iam.RolePolicy(
        f"{cluster.name}-cluster-autoscaler",
        role=role.id,
        policy=json.dumps(autoscaler_policy(eks.name)),
        opts=aws_opts,
    )
    agent = [eks.pod_identity_agent] if eks.pod_identity_agent else []
    association = aws.eks.PodIdentityAssociation(
        f"{cluster.name}-cluster-autoscaler",
        cluster_name=eks.name,
        namespace=CLUSTER_AUTOSCALER.namespace,
        service_account=CA_SERVICE_ACCOUNT,
        role_arn=role.arn,
        tags=tags,
        opts=pulumi.ResourceOptions(provider=eks.provider, depends_on=[*eks.ready, *agent]),
    )
    names = [eks.asg_names[p.logical] for p in eks.plans]
    priorities = pulumi.Output.all(*names).apply(
        lambda asgs: priorities_yaml(
            [(p.priority, a) for p, a in zip(eks.plans, asgs, strict=True)]
        )
    )
    config = k8s.core.v1.ConfigMap(
        PRIORITY_CONFIGMAP,
        metadata={"name": PRIORITY_CONFIGMAP, "namespace": CLUSTER_AUTOSCALER.namespace},
        data={"priorities": priorities},
        opts=k8s_opts,
    )
    values: dict[str, Any] = {
        "cloudProvider": "aws",
        "awsRegion": eks.region,
        "autoDiscovery": {"clusterName": eks.name},
        "rbac": {"serviceAccount": {"create": True, "name": CA_SERVICE_ACCOUNT}},
        "extraArgs": {
            "expander": "priority",
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
        },
    }
    if cluster.version:
        values["image"] = {"tag": f"v{cluster.version}.0"}
    if cluster.create:
        values["nodeSelector"] = {"llmctl.dev/role": "system"}
    release = helm_release(
        pin,
        values,
        pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[association, config])
        ),
    )
    return [config, release]


def autoscaler_policy(eks_name: str) -> dict[str, Any]:
    """cluster-autoscaler's permissions: read anywhere, resize only this cluster's groups."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ResizeOwnedGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{CA_TAG}/{eks_name}": "owned"}},
            },
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
        ],
    }


def ecr_repository(
    deployment: Deployment, cluster: ClusterIR, provider: aws.Provider
) -> aws.ecr.Repository:
    """The serving image's repository `<name>/vllm`: scanned on push, tags immutable."""
    return aws.ecr.Repository(
        f"{deployment.name}-vllm",
        name=f"{deployment.name}/vllm",
        image_scanning_configuration={"scan_on_push": True},
        image_tag_mutability="IMMUTABLE",
        tags=aws_tags(deployment, cluster.name),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def split_s3(source: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix")."""
    bucket, _, prefix = source.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def s3_read_policy(source: str) -> dict[str, Any]:
    """Read-only access to one model's objects: GetObject under the prefix, List of that prefix."""
    bucket, prefix = split_s3(source)
    objects = f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"
    listing: dict[str, Any] = {
        "Sid": "ListModelPrefix",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}"],
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadModelObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [objects],
            },
            listing,
        ],
    }


def model_source_roles(
    deployment: Deployment, cluster: ClusterIR, eks: EksCluster
) -> list[aws.eks.PodIdentityAssociation]:
    """For each model on this cluster with an s3:// source: a read-only role for its pods."""
    associations = []
    seen: set[str] = set()
    for model, _ in deployment.models_on(cluster.name):
        if model.source_scheme != "s3" or model.name in seen:
            continue
        seen.add(model.name)
        tags = aws_tags(deployment, cluster.name)
        opts = pulumi.ResourceOptions(provider=eks.provider)
        role = aws.iam.Role(
            f"{model.name}-serving",
            assume_role_policy=json.dumps(POD_IDENTITY_TRUST),
            tags={**tags, "llmctl:model": model.name},
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{model.name}-serving-s3",
            role=role.id,
            policy=json.dumps(s3_read_policy(model.source)),
            opts=opts,
        )
        agent = [eks.pod_identity_agent] if eks.pod_identity_agent else []
        associations.append(
            aws.eks.PodIdentityAssociation(
                f"{model.name}-serving",
                cluster_name=eks.name,
                namespace=cluster.namespace,
                service_account=f"{model.name}-serving",
                role_arn=role.arn,
                tags=tags,
                opts=pulumi.ResourceOptions(provider=eks.provider, depends_on=[*eks.ready, *agent]),
            )
        )
    return associations
