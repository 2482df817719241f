"""One DNS name over every cluster's gateway: Route 53 records and health checks (the `-dns` stack).

Traffic model. A cluster's role is the strongest role of the placements on it: `active` if any
model has an active placement there, else `overflow`, else `failover`. Its weight is the sum of
the minimum replicas of those placements (at least 1): traffic splits in proportion to the
serving capacity that is always up. Records, all in the zone `gateway.dns_zone`:

- `<cluster>.<hostname>`: the cluster's gateway, an A record (the endpoint is an IP address, e.g.
  an on-prem load balancer) or a CNAME (a cloud load balancer's hostname), TTL 60. Also handy for
  reaching one cluster directly.
- One HTTPS health check per cluster: GET /health on `<cluster>.<hostname>`:443 every 30 s,
  unhealthy after 3 failures. Route 53 sends `Host: <cluster>.<hostname>`, so the gateway's
  /health route must accept that host.
- `primary.<hostname>`: weighted CNAMEs to the active clusters (their weight) and the overflow
  clusters (weight 0), each with its cluster's health check. Route 53 answers with a weight-0
  record only when every weighted one is unhealthy, so overflow clusters take over whole when
  the active ones fail; spilling load over while they are healthy is the gateway's job (DNS
  cannot see load).
- `secondary.<hostname>`: weighted CNAMEs to the failover-only clusters.
- `<hostname>`: a failover pair. PRIMARY -> `primary.<hostname>` with a calculated health check
  that is healthy while at least one active or overflow cluster is; SECONDARY ->
  `secondary.<hostname>`, likewise over the failover clusters. With no failover-only cluster,
  `<hostname>` carries the weighted records itself and there is no failover pair.

Endpoints are plain inputs, not StackReferences: the engine applies the cluster stacks first,
reads each stack's `gateway_endpoint` output and passes `{cluster: endpoint}` here. That keeps
this program independent of the backend's org/project naming and plannable offline. In a preview
an unknown endpoint becomes `pending.<cluster>.invalid`; an apply refuses it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from llmctl.errors import LlmctlError
from llmctl.ir import Deployment

from .tags import aws_tags

TTL = 60
HEALTH_PATH = "/health"
_RANK = {"active": 0, "overflow": 1, "failover": 2}


def traffic_roles(deployment: Deployment) -> dict[str, tuple[str, int]]:
    """{cluster: (role, weight)} for every cluster that serves a model, in spec order."""
    roles: dict[str, tuple[str, int]] = {}
    for cluster in deployment.clusters:
        placements = [p for _, p in deployment.models_on(cluster.name)]
        if not placements:
            continue
        role = min((p.traffic for p in placements), key=_RANK.__getitem__)
        replicas = sum(p.min_replicas for p in placements if p.traffic == role)
        roles[cluster.name] = (role, 0 if role == "overflow" else max(replicas, 1))
    return roles


def dns_program(deployment: Deployment, endpoints: Mapping[str, str]) -> None:
    """Register the records and health checks described in this module's docstring."""
    gw = deployment.gateway
    host, zone_name = (gw.hostname or "").rstrip("."), (gw.dns_zone or "").rstrip(".")
    if not host.endswith("." + zone_name):
        raise LlmctlError(
            f"gateway.hostname {host!r} is not a name inside gateway.dns_zone {zone_name!r}",
            hint="use a hostname below the zone, e.g. llm." + (zone_name or "example.com"),
        )
    region = next((c.region for c in deployment.clusters if c.region), None) or "us-east-1"
    provider = aws.Provider("aws-dns", region=region)
    opts = pulumi.ResourceOptions(provider=provider)
    zone = aws.route53.get_zone_output(
        name=zone_name, private_zone=False, opts=pulumi.InvokeOptions(provider=provider)
    )
    tags = aws_tags(deployment)
    roles = traffic_roles(deployment)
    checks: dict[str, aws.route53.HealthCheck] = {}
    for cluster in roles:
        endpoint = _endpoint(endpoints, cluster)
        name = f"{cluster}.{host}"
        aws.route53.Record(
            name,
            zone_id=zone.zone_id,
            name=name,
            type=record_type(endpoint),
            ttl=TTL,
            records=[endpoint],
            opts=opts,
        )
        checks[cluster] = aws.route53.HealthCheck(
            f"{cluster}-health",
            type="HTTPS",
            fqdn=name,
            port=443,
            resource_path=HEALTH_PATH,
            request_interval=30,
            failure_threshold=3,
            enable_sni=True,
            tags={**tags, "llmctl:cluster": cluster, "Name": f"{name}{HEALTH_PATH}"},
            opts=opts,
        )
    primary = [c for c, (role, _) in roles.items() if role != "failover"]
    secondary = [c for c, (role, _) in roles.items() if role == "failover"]
    if not secondary:
        _weighted(host, host, primary, roles, checks, zone.zone_id, opts)
        return
    if not primary:
        raise LlmctlError(
            "every placement is `traffic: failover`; nothing would serve normally",
            hint="make at least one placement `traffic: active`",
        )
    for tier, clusters in (("primary", primary), ("secondary", secondary)):
        tier_name = f"{tier}.{host}"
        _weighted(tier_name, host, clusters, roles, checks, zone.zone_id, opts)
        calculated = aws.route53.HealthCheck(
            f"{tier}-health",
            type="CALCULATED",
            child_healthchecks=[checks[c].id for c in clusters],
            child_health_threshold=1,
            tags={**tags, "Name": f"{tier_name} (any cluster healthy)"},
            opts=opts,
        )
        aws.route53.Record(
            f"{host}-{tier}",
            zone_id=zone.zone_id,
            name=host,
            type="CNAME",
            ttl=TTL,
            records=[tier_name],
            set_identifier=tier,
            failover_routing_policies=[{"type": tier.upper()}],
            health_check_id=calculated.id,
            opts=opts,
        )


def _weighted(
    name: str,
    host: str,
    clusters: list[str],
    roles: Mapping[str, tuple[str, int]],
    checks: Mapping[str, aws.route53.HealthCheck],
    zone_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """Weighted CNAMEs at `name`, one per cluster, each behind its cluster's health check."""
    for cluster in clusters:
        aws.route53.Record(
            f"{name}-{cluster}",
            zone_id=zone_id,
            name=name,
            type="CNAME",
            ttl=TTL,
            records=[f"{cluster}.{host}"],
            set_identifier=cluster,
            weighted_routing_policies=[{"weight": roles[cluster][1]}],
            health_check_id=checks[cluster].id,
            opts=opts,
        )


def _endpoint(endpoints: Mapping[str, str], cluster: str) -> str:
    """The cluster's gateway address; a placeholder in a preview, an error in an apply."""
    endpoint = endpoints.get(cluster)
    if endpoint:
        return endpoint.rstrip(".")
    if pulumi.runtime.is_dry_run():
        return f"pending.{cluster}.invalid"
    raise LlmctlError(
        f"no gateway endpoint for cluster {cluster!r}; the DNS records cannot point at it",
        hint="apply the cluster's stack first; its `gateway_endpoint` output feeds this stack",
    )


def record_type(endpoint: str) -> str:
    """A or AAAA for an IP address, CNAME for a hostname."""
    try:
        address = ipaddress.ip_address(endpoint)
    except ValueError:
        return "CNAME"
    return "A" if address.version == 4 else "AAAA"
