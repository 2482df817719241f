"""The hybrid example's gateways: the on-prem gateway spills to the cloud gateway by load and on
failures (render/failover.py), the cloud gateway takes it, and /health answers both DNS and peers."""

from __future__ import annotations

import pytest
from render_helpers import cluster_objects, deployment_of, of_kind

from llmctl.compile.overflow import room_in_flight


@pytest.fixture(scope="module")
def hybrid():
    return deployment_of("hybrid"), cluster_objects("hybrid")


def _named(objects, kind):
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def test_onprem_route_prefers_local_pods_then_the_cloud_gateway(hybrid) -> None:
    d, objects = hybrid
    onprem = objects["onprem"]
    route = _named(onprem, "HTTPRoute")["support-bot-route-mistral-7b"]
    (rule,) = route["spec"]["rules"]
    assert "filters" not in rule["backendRefs"][0]  # no per-backend filter: one Envoy cluster
    assert [(r["kind"], r["name"], r["port"]) for r in rule["backendRefs"]] == [
        ("Backend", "mistral-7b-l40s-primary", 8000),
        ("Backend", "support-bot-peer-aws", 443),
    ]
    backends = _named(onprem, "Backend")
    local = backends["mistral-7b-l40s-primary"]["spec"]
    assert local["endpoints"] == [
        {"fqdn": {"hostname": "mistral-7b-l40s-pods.support-bot.svc.cluster.local", "port": 8000}}
    ]
    assert "fallback" not in local  # priority 0
    peer = backends["support-bot-peer-aws"]["spec"]
    assert peer["endpoints"] == [{"fqdn": {"hostname": "aws.llm.support.example.com", "port": 443}}]
    assert peer["fallback"] is True  # priority 1
    assert peer["tls"] == {"sni": "llm.support.example.com", "wellKnownCACertificates": "System"}
    # every endpoint is an FQDN: Envoy Gateway keeps them in one cluster, so priorities apply
    for b in backends.values():
        assert all(set(e) == {"fqdn"} for e in b["spec"]["endpoints"])


def test_the_local_backend_is_a_headless_twin_listing_each_pod(hybrid) -> None:
    _, objects = hybrid
    services = _named(objects["onprem"], "Service")
    pods, plain = services["mistral-7b-l40s-pods"], services["mistral-7b-l40s"]
    assert pods["spec"]["clusterIP"] == "None"
    assert pods["spec"]["selector"] == plain["spec"]["selector"]
    assert pods["spec"]["ports"] == plain["spec"]["ports"]


def test_spill_policy_checks_room_limits_requests_and_retries_on_the_peer(hybrid) -> None:
    d, objects = hybrid
    policy = _named(objects["onprem"], "BackendTrafficPolicy")["support-bot-route-mistral-7b-spill"]
    spec = policy["spec"]
    assert spec["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "support-bot-route-mistral-7b"}
    ]
    active = spec["healthCheck"]["active"]
    assert active["type"] == "HTTP"
    assert active["http"] == {
        "path": "/llmctl/room",
        "hostname": "llm.support.example.com",  # the cloud listener's name; vLLM ignores it
        "expectedStatuses": [200],
    }
    assert (active["unhealthyThreshold"], active["healthyThreshold"]) == (1, 1)
    assert spec["healthCheck"]["passive"]["consecutive5XxErrors"] == 3
    (model,) = d.models
    room = room_in_flight(model)
    assert room == 256 + 8
    local = 4 * room  # the on-prem placement's 4 replicas
    cloud = (6 + 2) * room  # burst max 6 and standby max 2 behind the aws gateway
    assert spec["circuitBreaker"] == {
        "maxConnections": local + cloud,
        "maxParallelRequests": local + cloud,
        "maxPendingRequests": local + cloud,
    }
    retry = spec["retry"]
    assert retry["numRetries"] == 1 and retry["numAttemptsPerPriority"] == 1
    assert set(retry["retryOn"]["triggers"]) >= {"connect-failure", "retriable-status-codes"}
    assert spec["dns"] == {"dnsRefreshRate": "5s", "respectDnsTtl": True}


def test_onprem_replicas_answer_room_themselves(hybrid) -> None:
    _, objects = hybrid
    (cm,) = [c for c in of_kind(objects["onprem"], "ConfigMap")]
    assert "room.py" in cm["data"]
    import json

    config = json.loads(cm["data"]["serving.json"])
    assert config["room"] == {"max_in_flight": 264, "max_waiting": 8}


def test_cloud_gateway_takes_the_spill(hybrid) -> None:
    _, objects = hybrid
    aws = objects["aws"]
    # it routes the model to its own placements, in one Envoy cluster (Backends for headless
    # Services) so that the burst placement at zero replicas is an empty locality, not a 503
    # share; and it has no peer of its own
    route = _named(aws, "HTTPRoute")["support-bot-route-mistral-7b"]
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(r["kind"], r["name"], r["weight"]) for r in refs] == [
        ("Backend", "mistral-7b-burst-primary", 3),  # max replicas 6 : 2
        ("Backend", "mistral-7b-standby-primary", 1),
    ]
    backends = _named(aws, "Backend")
    assert backends["mistral-7b-burst-primary"]["spec"]["endpoints"][0]["fqdn"]["hostname"] == (
        "mistral-7b-burst-pods.support-bot.svc.cluster.local"
    )
    assert not [b for b in backends if "peer" in b]
    assert "support-bot-route-mistral-7b-spill" in _named(aws, "BackendTrafficPolicy")
    # the spilling gateway's requests count once: at on-prem, not again here
    rate = _named(aws, "BackendTrafficPolicy")["support-bot-rate-limit"]
    (rule,) = rate["spec"]["rateLimit"]["global"]["rules"]
    (selector,) = rule["clientSelectors"]
    assert selector["headers"][1] == {
        "name": "x-llmctl-client",
        "type": "RegularExpression",
        "value": "llmctl-peer-.*",
        "invert": True,
    }
    onprem_rate = _named(objects["onprem"], "BackendTrafficPolicy")["support-bot-rate-limit"]
    assert len(onprem_rate["spec"]["rateLimit"]["global"]["rules"][0]["clientSelectors"][0]["headers"]) == 1


@pytest.mark.parametrize("cluster", ["onprem", "aws"])
def test_health_and_room_answer_without_a_key(hybrid, cluster) -> None:
    _, objects = hybrid
    route = _named(objects[cluster], "HTTPRoute")["support-bot-health"]
    (rule,) = route["spec"]["rules"]
    assert [m["path"]["value"] for m in rule["matches"]] == ["/health", "/llmctl/room"]
    assert route["spec"]["hostnames"] == ["llm.support.example.com"]
    ok = _named(objects[cluster], "HTTPRouteFilter")["support-bot-health"]["spec"]["directResponse"]
    assert ok["statusCode"] == 200
    open_ = _named(objects[cluster], "SecurityPolicy")["support-bot-health-open"]["spec"]
    assert open_["targetRefs"][0]["name"] == "support-bot-health"
    assert open_["authorization"] == {"defaultAction": "Allow"}


def test_scaler_of_the_cloud_reads_the_onprem_prometheus(hybrid) -> None:
    _, objects = hybrid
    (scaled,) = of_kind(objects["aws"], "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == "https://prometheus.rack7.support.example.com"
