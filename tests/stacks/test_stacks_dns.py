"""The DNS stack under Pulumi's mocks, and how stacks are named and ordered."""

from __future__ import annotations

import pytest
from llmctl.stacks import stack_defs
from llmctl.stacks.dns import dns_program, record_type, traffic_roles

from llmctl.engine.offline import collect_resources
from llmctl.errors import LlmctlError
from llmctl.plan import Resource
from tests.stacks.fixtures import deployment, named, objects_by_cluster, of_type

RECORD = "aws:route53/record:Record"
CHECK = "aws:route53/healthCheck:HealthCheck"
ENDPOINTS = {"dc1": "203.0.113.10", "cloud": "k8s-eg-abc123.elb.us-west-2.amazonaws.com"}


def _dns(cloud_traffic: str, endpoints: dict[str, str] | None = None) -> list[Resource]:
    stack = stack_defs(deployment(cloud_traffic), objects_by_cluster(), endpoints=endpoints)[-1]
    assert (stack.name, stack.kind, stack.cluster) == ("support-bot-dns", "dns", "")
    return collect_resources(stack.program, stack.name)


def test_stack_names_kinds_and_order() -> None:
    defs = stack_defs(deployment(), objects_by_cluster())
    assert [(d.name, d.cluster, d.kind) for d in defs] == [
        ("support-bot-cloud", "cloud", "aws-cluster"),
        ("support-bot-dc1", "dc1", "serving"),
        ("support-bot-dns", "", "dns"),
    ]
    assert [d.name for d in stack_defs(deployment(clusters="dc1"), objects_by_cluster())] == [
        "support-bot-dc1"
    ]
    assert "support-bot-dns" not in [
        d.name for d in stack_defs(deployment(dns_zone=None), objects_by_cluster())
    ]


def test_traffic_roles_and_weights() -> None:
    assert traffic_roles(deployment("overflow")) == {"cloud": ("overflow", 0), "dc1": ("active", 3)}
    assert traffic_roles(deployment("failover")) == {"cloud": ("failover", 1), "dc1": ("active", 3)}
    assert traffic_roles(deployment("active")) == {"cloud": ("active", 1), "dc1": ("active", 3)}


def test_active_and_overflow_clusters_share_a_weighted_name() -> None:
    res = _dns("overflow", ENDPOINTS)
    checks = {r.name: r.inputs for r in of_type(res, CHECK)}
    assert set(checks) == {"dc1-health", "cloud-health"}
    for cluster in ("dc1", "cloud"):
        check = checks[f"{cluster}-health"]
        assert (check["type"], check["resourcePath"], check["port"]) == ("HTTPS", "/health", 443)
        assert check["fqdn"] == f"{cluster}.llm.example.com"
        assert check["tags"]["llmctl:deployment"] == "support-bot"
    dc1 = named(res, RECORD, "dc1.llm.example.com").inputs
    assert (dc1["type"], dc1["records"]) == ("A", ["203.0.113.10"])
    cloud = named(res, RECORD, "cloud.llm.example.com").inputs
    assert (cloud["type"], cloud["records"]) == ("CNAME", [ENDPOINTS["cloud"]])
    weighted = {
        r.name: r.inputs for r in of_type(res, RECORD) if r.inputs["name"] == "llm.example.com"
    }
    assert set(weighted) == {"llm.example.com-dc1", "llm.example.com-cloud"}
    assert weighted["llm.example.com-dc1"]["weightedRoutingPolicies"] == [{"weight": 3}]
    assert weighted["llm.example.com-cloud"]["weightedRoutingPolicies"] == [{"weight": 0}]
    assert weighted["llm.example.com-dc1"]["healthCheckId"] == "dc1-health-id"
    assert weighted["llm.example.com-cloud"]["records"] == ["cloud.llm.example.com"]
    zones = {r.inputs["zoneId"] for r in of_type(res, RECORD)}
    assert len(zones) == 1 and zones.pop().startswith("Z")  # the looked-up zone's id
    assert not [r for r in of_type(res, RECORD) if "failoverRoutingPolicies" in r.inputs]


def test_failover_clusters_sit_behind_a_primary() -> None:
    res = _dns("failover", ENDPOINTS)
    pair = {r.name: r.inputs for r in of_type(res, RECORD) if "failoverRoutingPolicies" in r.inputs}
    assert set(pair) == {"llm.example.com-primary", "llm.example.com-secondary"}
    primary, secondary = pair["llm.example.com-primary"], pair["llm.example.com-secondary"]
    assert primary["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    assert primary["records"] == ["primary.llm.example.com"]
    assert secondary["failoverRoutingPolicies"] == [{"type": "SECONDARY"}]
    assert secondary["records"] == ["secondary.llm.example.com"]
    calculated = named(res, CHECK, "primary-health").inputs
    assert calculated["type"] == "CALCULATED" and calculated["childHealthThreshold"] == 1
    assert calculated["childHealthchecks"] == ["dc1-health-id"]
    assert primary["healthCheckId"] == "primary-health-id"
    assert named(res, CHECK, "secondary-health").inputs["childHealthchecks"] == ["cloud-health-id"]
    tier = named(res, RECORD, "secondary.llm.example.com-cloud")
    assert tier.inputs["records"] == ["cloud.llm.example.com"]
    assert tier.summary == "CNAME secondary.llm.example.com -> cloud.llm.example.com (weight 1)"


def test_preview_without_endpoints_uses_placeholders() -> None:
    res = _dns("overflow", None)
    assert named(res, RECORD, "dc1.llm.example.com").inputs["records"] == ["pending.dc1.invalid"]


def test_hostname_outside_the_zone_is_refused() -> None:
    d = deployment()
    d = d.model_copy(update={"gateway": d.gateway.model_copy(update={"hostname": "llm.other.org"})})
    with pytest.raises(LlmctlError, match="not a name inside"):
        collect_resources(lambda: dns_program(d, ENDPOINTS), "dns-test")


def test_record_type() -> None:
    assert record_type("203.0.113.10") == "A"
    assert record_type("2001:db8::1") == "AAAA"
    assert record_type("a.elb.amazonaws.com") == "CNAME"
