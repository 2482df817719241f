"""Security posture of the serving pods (issue 14, item 12): they check an API key of their own,
which the gateway adds upstream; their egress is DNS and, for hf:// or s3:// weights, HTTPS to
public addresses; validate warns when the endpoint would serve without authentication."""

from __future__ import annotations

import json

import pytest
from render_helpers import SPECS, cluster_objects, containers, deployment_of, of_kind

from llmctl.compile import compile_file
from llmctl.render.kubernetes import k8s_name
from llmctl.render.upstream_auth import PRIVATE_RANGES, upstream_key, upstream_key_data
from tests.spec.test_loader import BASE


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_model_route_injects_the_pods_key_and_every_pod_checks_it(name):
    d = deployment_of(name)
    for cluster, objects in cluster_objects(name).items():
        if not d.models_on(cluster):
            continue
        secret = f"{d.name}-upstream-key"
        [injector] = [
            f for f in of_kind(objects, "HTTPRouteFilter") if "credentialInjection" in f["spec"]
        ]
        spec = injector["spec"]["credentialInjection"]
        assert spec == {"overwrite": True, "credential": {"valueRef": {"name": secret}}}
        for route in of_kind(objects, "HTTPRoute"):
            for rule in route["spec"]["rules"]:
                if any(r["kind"] in ("Service", "Backend") for r in rule.get("backendRefs", [])):
                    names = [f["extensionRef"]["name"] for f in rule.get("filters", [])]
                    assert injector["metadata"]["name"] in names, route["metadata"]["name"]
        for dep in of_kind(objects, "Deployment"):
            env = {e["name"]: e for e in containers(dep)[0]["env"]}
            assert env["VLLM_API_KEY"] == {
                "name": "VLLM_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "VLLM_API_KEY"}},
            }
        for cm in of_kind(objects, "ConfigMap"):
            if "serving.json" in cm.get("data", {}):
                assert json.loads(cm["data"]["serving.json"])["api_key_env"] == "VLLM_API_KEY"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_serving_egress_is_dns_and_https_to_public_addresses_only(name):
    d = deployment_of(name)
    for cluster, objects in cluster_objects(name).items():
        groups = {k8s_name(m.name, "group") for m, _ in d.models_on(cluster) if m.group}
        for policy in of_kind(objects, "NetworkPolicy"):
            if policy["metadata"]["name"] in groups:  # members of a group reach each other
                continue
            spec = policy["spec"]
            assert spec["policyTypes"] == ["Ingress", "Egress"]
            dns, *https = spec["egress"]
            assert dns == {
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
            }
            schemes = {m.source_scheme for m, _ in d.models_on(cluster)}
            if schemes & {"hf", "s3"}:
                [rule] = https
                assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
                block = rule["to"][0]["ipBlock"]
                assert block["cidr"] == "0.0.0.0/0" and "169.254.0.0/16" in block["except"]
                assert set(PRIVATE_RANGES) <= set(block["except"])
            else:
                assert https == []


def test_the_key_is_stable_per_cluster_and_never_rendered():
    key = upstream_key("passphrase", "support-bot", "dc1")
    assert key == upstream_key("passphrase", "support-bot", "dc1")
    assert key != upstream_key("passphrase", "support-bot", "cloud")
    assert upstream_key_data(key) == {"VLLM_API_KEY": key, "credential": f"Bearer {key}"}
    for name in SPECS:
        rendered = json.dumps(cluster_objects(name))
        assert "Bearer" not in rendered


@pytest.mark.parametrize(
    "gateway, warned",
    [
        ("", True),
        ("gateway: {hostname: llm.example.com}\n", True),
        ("gateway: {allow_unauthenticated: true}\n", False),
        ("gateway: {api_keys: {secret_env: LLMCTL_API_KEYS}}\n", False),
    ],
)
def test_validate_warns_when_the_endpoint_is_open(tmp_path, gateway, warned):
    path = tmp_path / "llm.yaml"
    path.write_text(BASE + gateway)
    warnings = [w for w in compile_file(path).warnings if "authentication" in w.message]
    assert bool(warnings) is warned
    if warned:
        assert "allow_unauthenticated: true" in warnings[0].hint
