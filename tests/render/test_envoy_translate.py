"""The hybrid example's gateway objects through Envoy Gateway's own translator (v1.9.0).

`egctl x translate` (built from github.com/envoyproxy/gateway@v1.9.0 by scripts/e2e-build) runs
the code Envoy Gateway's controller runs: Gateway API and gateway.envoyproxy.io objects in, Envoy
xDS out. No Envoy proxy runs here, so this proves the configuration Envoy would receive, not how
Envoy then balances traffic. Skipped when egctl is not built.

The input is what `llmctl render` writes for the cluster, less the kinds egctl does not know
(ServiceMonitor, ScaledObject, ...), plus the Secrets the stack (or the user) creates at apply
time (the TLS certificate, the API keys, the pods' key), with stand-in values.

The EnvoyExtensionPolicy with the model-header Lua goes through Envoy Gateway v1.9's strict Lua
validation, which runs the script against a mock stream handle: it once had no clearRouteCache()
there, the policy was rejected, and Envoy Gateway answered every route with a 500 (fail closed).

Skipped when egctl is not built, except under LLMCTL_REQUIRE_E2E=1 (CI's e2e phase, which runs
this module again once the engines are built): then a missing egctl fails.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from render_helpers import cluster_objects, deployment_of

REPO = Path(__file__).resolve().parents[2]
KNOWN_GROUPS = ("gateway.networking.k8s.io", "gateway.envoyproxy.io")
KNOWN_CORE = ("Namespace", "Service", "ServiceAccount", "ConfigMap", "Secret")


def _egctl() -> str:
    explicit = os.environ.get("LLMCTL_EGCTL")
    if explicit:
        return explicit
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "e2e-build"), "--print"],
        check=True,
        capture_output=True,
        text=True,
    )
    path = Path(out.stdout.strip()) / "egctl"
    if not path.exists() and shutil.which("egctl") is None:
        if os.environ.get("LLMCTL_REQUIRE_E2E") == "1":
            pytest.fail("egctl is not built: scripts/e2e-build builds it (LLMCTL_REQUIRE_E2E=1)")
        pytest.skip("egctl is not built: run scripts/e2e-build (Envoy Gateway v1.9.0's egctl)")
    return str(path) if path.exists() else "egctl"


def _tls_secret(namespace: str, name: str, host: str) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = {
        "tls.crt": cert.public_bytes(serialization.Encoding.PEM),
        "tls.key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }
    return _secret(namespace, name, pem, "kubernetes.io/tls")


def _secret(
    namespace: str, name: str, data: dict[str, bytes], type_: str = "Opaque"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def translate(cluster: str, tmp_path: Path) -> dict[str, Any]:
    """egctl's gateway-api (with statuses) and xds output for the hybrid example's `cluster`."""
    import yaml

    d = deployment_of("hybrid")
    ns = d.cluster(cluster).namespace
    objects = [
        o
        for o in cluster_objects("hybrid")[cluster]
        if (o["apiVersion"].split("/")[0] in KNOWN_GROUPS or o["kind"] in KNOWN_CORE)
    ]
    objects += [
        _tls_secret(ns, f"{d.name}-tls", d.gateway.hostname or ""),
        _secret(ns, f"{d.name}-api-keys", {"alice": b"sk-alice-stand-in"}),
        _secret(
            ns,
            f"{d.name}-upstream-key",
            {"VLLM_API_KEY": b"stand-in", "credential": b"Bearer stand-in"},
        ),
    ]
    source = tmp_path / f"{cluster}.yaml"
    source.write_text(yaml.safe_dump_all(objects))
    out = subprocess.run(
        [_egctl(), "x", "translate", "--from", "gateway-api", "--to", "gateway-api,xds"]
        + ["-t", "all", "-o", "json", "-f", str(source), "-n", ns]
        # EndpointSlices for plain Service backends (no controller makes them here)
        + ["--add-missing-resources"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _rejections(result: dict[str, Any]) -> list[str]:
    """Every status condition of the translated objects that says False."""
    bad = []
    for kind, items in result.items():
        if kind == "xds" or not isinstance(items, list):
            continue
        for obj in items:
            status = obj.get("status") or {}
            conditions = list(status.get("conditions") or [])
            for parent in (status.get("parents") or []) + (status.get("ancestors") or []):
                conditions += parent.get("conditions") or []
            bad += [
                f"{kind}/{obj['metadata']['name']}: {c.get('message')}"
                for c in conditions
                if c.get("status") == "False"
            ]
    return bad


def _xds(result: dict[str, Any], what: str) -> list[dict[str, Any]]:
    (dump,) = result["xds"].values()
    configs = dump.get("configs", [dump])
    for config in configs:
        if config.get("@type", "").endswith(what):
            return [config]
    raise AssertionError(f"no {what} in egctl's output")


def _clusters(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (dump,) = _xds(result, "ClustersConfigDump")
    return {c["cluster"]["name"]: c["cluster"] for c in dump["dynamicActiveClusters"]}


def _routes(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (dump,) = _xds(result, "RoutesConfigDump")
    out = {}
    for config in dump["dynamicRouteConfigs"]:
        for host in config["routeConfig"].get("virtualHosts") or []:
            for route in host.get("routes") or []:
                out[route["name"]] = route
    return out


@pytest.fixture(scope="module")
def onprem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return translate("onprem", tmp_path_factory.mktemp("egctl"))


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return translate("aws", tmp_path_factory.mktemp("egctl"))


def test_envoy_gateway_accepts_every_object(onprem, aws) -> None:
    assert _rejections(onprem) == []
    assert _rejections(aws) == []


def test_the_spill_route_is_one_cluster_local_pods_first_cloud_gateway_second(onprem) -> None:
    d = deployment_of("hybrid")
    (peer,) = d.gateway.peers
    name = "httproute/support-bot/support-bot-route-mistral-7b/rule/0"
    cluster = _clusters(onprem)[name]
    localities = cluster["loadAssignment"]["endpoints"]
    by_priority = {
        loc.get("priority", 0): [e["endpoint"]["address"]["socketAddress"] for e in loc["lbEndpoints"]]
        for loc in localities
    }
    assert by_priority == {
        0: [{"address": "mistral-7b-l40s-pods.support-bot.svc.cluster.local", "portValue": 8000}],
        1: [{"address": peer.address, "portValue": 443}],
    }
    # a DNS cluster: every address the headless Service's name resolves to is a host (a pod)
    assert cluster["clusterType"]["name"] == "envoy.cluster.dns"
    dns = cluster["clusterType"]["typedConfig"]
    assert (dns["dnsRefreshRate"], dns["respectDnsTtl"]) == ("5s", True)
    # TLS to the cloud gateway only, checked against the public hostname with the system CAs
    (match,) = cluster["transportSocketMatches"]
    tls = match["transportSocket"]["typedConfig"]
    assert tls["sni"] == d.gateway.hostname
    validation = tls["commonTlsContext"]["combinedValidationContext"]
    assert validation["defaultValidationContext"]["matchTypedSubjectAltNames"] == [
        {"matcher": {"exact": d.gateway.hostname}, "sanType": "DNS"}
    ]
    assert validation["validationContextSdsSecretConfig"]["name"] == "system_ca_certificates"
    (cloud,) = [loc for loc in localities if loc.get("priority") == 1]
    assert cloud["lbEndpoints"][0]["metadata"]["filterMetadata"]["envoy.transport_socket_match"]


def test_the_cloud_side_skips_a_placement_at_zero_replicas(aws) -> None:
    """burst (0..6 replicas) and standby in one cluster: localities weighted 3:1, so while the
    burst's headless name resolves to no pod Envoy sends everything to the standby."""
    cluster = _clusters(aws)["httproute/support-bot/support-bot-route-mistral-7b/rule/0"]
    localities = cluster["loadAssignment"]["endpoints"]
    got = [
        (
            loc["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["address"],
            loc["loadBalancingWeight"],
            loc.get("priority", 0),
        )
        for loc in localities
    ]
    assert got == [
        ("mistral-7b-burst-pods.support-bot.svc.cluster.local", 3, 0),
        ("mistral-7b-standby-pods.support-bot.svc.cluster.local", 1, 0),
    ]
    assert cluster["clusterType"]["name"] == "envoy.cluster.dns"
    assert "localityWeightedLbConfig" in json.dumps(cluster["loadBalancingPolicy"])


def test_room_health_checks_ejection_and_limits_reach_envoy(onprem) -> None:
    d = deployment_of("hybrid")
    (peer,) = d.gateway.peers
    (model,) = d.models
    cluster = _clusters(onprem)["httproute/support-bot/support-bot-route-mistral-7b/rule/0"]
    (check,) = cluster["healthChecks"]
    assert check["httpHealthCheck"]["path"] == "/llmctl/room"
    assert check["httpHealthCheck"]["host"] == d.gateway.hostname
    assert check["httpHealthCheck"]["expectedStatuses"] == [{"start": "200", "end": "201"}]
    assert (check["interval"], check["unhealthyThreshold"], check["healthyThreshold"]) == (
        "2s",
        1,
        1,
    )
    assert cluster["outlierDetection"]["consecutive5xx"] == 3
    assert cluster["outlierDetection"]["maxEjectionPercent"] == 100
    limit = 4 * model.engine.room_max_in_flight + peer.max_in_flight
    (thresholds,) = cluster["circuitBreakers"]["thresholds"]
    assert thresholds["maxConnections"] == thresholds["maxRequests"] == limit
    assert thresholds["maxPendingRequests"] == limit


def test_a_failed_request_is_retried_on_the_next_priority(onprem) -> None:
    route = _routes(onprem)[
        "httproute/support-bot/support-bot-route-mistral-7b/rule/0/match/0/llm_support_example_com"
    ]
    retry = route["route"]["retryPolicy"]
    assert retry["numRetries"] == 1
    assert retry["retryOn"] == "connect-failure,reset,retriable-status-codes"
    assert retry["retriableStatusCodes"] == [502, 503, 504]
    assert retry["retryPriority"]["name"] == "envoy.retry_priorities.previous_priorities"
    assert retry["retryPriority"]["typedConfig"]["updateFrequency"] == 1


@pytest.mark.parametrize("side", ["onprem", "aws"])
def test_health_and_room_answer_200_without_a_key(side, onprem, aws) -> None:
    routes = _routes({"onprem": onprem, "aws": aws}[side])
    for i, path in enumerate(("/health", "/llmctl/room")):
        route = routes[f"httproute/support-bot/support-bot-health/rule/0/match/{i}/llm_support_example_com"]
        assert route["match"]["path"] == path
        assert route["directResponse"]["status"] == 200
        per_filter = route.get("typedPerFilterConfig") or {}
        assert "envoy.filters.http.api_key_auth" not in per_filter  # displaced by health-open
        rbac = per_filter["envoy.filters.http.rbac"]["rbac"]["matcher"]["onNoMatch"]["action"]
        assert rbac["typedConfig"]["name"] == "ALLOW"


def test_the_cloud_does_not_rate_limit_the_spilling_gateway_twice(aws) -> None:
    route = _routes(aws)[
        "httproute/support-bot/support-bot-route-mistral-7b/rule/0/match/0/llm_support_example_com"
    ]
    per_filter = route["typedPerFilterConfig"]
    (limit,) = [v for k, v in per_filter.items() if k.startswith("envoy.filters.http.ratelimit")]
    (rule,) = limit["rateLimits"]
    inverted = [
        a["headerValueMatch"] for a in rule["actions"] if "headerValueMatch" in a
    ]
    assert inverted and inverted[0]["expectMatch"] is False
    (header,) = inverted[0]["headers"]
    assert header["name"] == "x-llmctl-client"
    assert header["stringMatch"]["safeRegex"]["regex"] == "llmctl-peer-.*"


@pytest.mark.parametrize("side", ["onprem", "aws"])
def test_the_model_header_lua_passes_strict_validation_and_reaches_envoy(side, onprem, aws):
    """The Lua EnvoyExtensionPolicy is accepted (Envoy Gateway's default, strict validation) and
    no route answers with Envoy Gateway's fail-closed 500 instead of its backend."""
    result = {"onprem": onprem, "aws": aws}[side]
    policies = result.get("envoyExtensionPolicies") or []
    assert policies, "the model-header EnvoyExtensionPolicy is in the input"
    assert not [r for r in _rejections(result) if r.startswith("envoyExtensionPolicies/")]
    dump = json.dumps(result["xds"])
    assert "x-llmctl-model" in dump and "clearRouteCache" in dump  # the script reached Envoy
    closed = [
        name
        for name, route in _routes(result).items()
        if (route.get("directResponse") or {}).get("status") == 500
    ]
    assert closed == []
