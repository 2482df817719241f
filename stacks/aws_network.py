"""The network llmctl creates for an EKS cluster (`create: true`).

A VPC (10.0.0.0/16); per availability zone, over up to three zones (at least two, which EKS
needs), a private /19 for the nodes and a public /24 for load balancers, tagged so the AWS load
balancer integration finds them; an internet gateway; one NAT gateway for the private subnets'
egress (one, not one per zone: a zone outage then cuts egress, which serving does not need once
images and weights are pulled, and it keeps a GPU deployment's fixed cost low); route tables.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from llmctl.errors import LlmctlError
from llmctl.ir import ClusterIR

DEFAULT_VPC_CIDR = "10.0.0.0/16"


def build_network(
    name: str, cluster: ClusterIR, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> tuple[list[pulumi.Output[str]], list[pulumi.Output[str]]]:
    """VPC, subnets, gateways and routes; returns (private subnet ids, public subnet ids)."""
    zones = aws.get_availability_zones(
        state="available",
        region=cluster.region,
        opts=pulumi.InvokeOptions(provider=opts.provider),
    ).names[:3]
    if len(zones) < 2:
        raise LlmctlError(
            f"region {cluster.region} offers {len(zones)} availability zone(s); EKS needs two",
            hint="choose another aws.region",
        )
    net = ipaddress.IPv4Network(DEFAULT_VPC_CIDR)
    blocks = list(net.subnets(new_prefix=19))
    public_blocks = list(blocks[-1].subnets(new_prefix=24))
    owned = {f"kubernetes.io/cluster/{name}": "shared"}
    vpc = aws.ec2.Vpc(
        name,
        cidr_block=str(net),
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags={**tags, "Name": name},
        opts=opts,
    )
    igw = aws.ec2.InternetGateway(f"{cluster.name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    public, private = [], []
    for i, zone in enumerate(zones):
        public.append(
            aws.ec2.Subnet(
                f"{cluster.name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(public_blocks[i]),
                availability_zone=zone,
                map_public_ip_on_launch=True,
                tags={**tags, **owned, "kubernetes.io/role/elb": "1"},
                opts=opts,
            )
        )
        private.append(
            aws.ec2.Subnet(
                f"{cluster.name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(blocks[i]),
                availability_zone=zone,
                tags={**tags, **owned, "kubernetes.io/role/internal-elb": "1"},
                opts=opts,
            )
        )
    eip = aws.ec2.Eip(f"{cluster.name}-nat", domain="vpc", tags=tags, opts=opts)
    nat = aws.ec2.NatGateway(
        f"{cluster.name}-nat",
        allocation_id=eip.id,
        subnet_id=public[0].id,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[igw])),
    )
    routes: dict[str, tuple[aws.ec2.RouteTableRouteArgsDict, list[aws.ec2.Subnet]]] = {
        "public": ({"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}, public),
        "private": ({"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}, private),
    }
    for kind, (route, subnets) in routes.items():
        table = aws.ec2.RouteTable(
            f"{cluster.name}-{kind}", vpc_id=vpc.id, routes=[route], tags=tags, opts=opts
        )
        for zone, subnet in zip(zones, subnets, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{cluster.name}-{kind}-{zone}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=opts,
            )
    return [s.id for s in private], [s.id for s in public]
