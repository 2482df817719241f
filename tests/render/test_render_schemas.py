"""Every rendered object against its schema: the real Kubernetes OpenAPI schemas (through
kubernetes-validate, strict: unknown fields are errors) for core kinds, and the key fields of
the Gateway API, Envoy Gateway and prometheus-operator CRDs, which kubernetes-validate lacks."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
from render_helpers import cluster_objects, deployment_of, of_kind

KUBERNETES_VERSION = "1.33.0"  # the EKS version llm.yaml defaults to; kubernetes-validate ships it
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
CRD_API = {
    "GatewayClass": "gateway.networking.k8s.io/v1",
    "Gateway": "gateway.networking.k8s.io/v1",
    "Backend": "gateway.envoyproxy.io/v1alpha1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
    "ClientTrafficPolicy": "gateway.envoyproxy.io/v1alpha1",
    "SecurityPolicy": "gateway.envoyproxy.io/v1alpha1",
    "BackendTrafficPolicy": "gateway.envoyproxy.io/v1alpha1",
    "EnvoyExtensionPolicy": "gateway.envoyproxy.io/v1alpha1",
    "HTTPRouteFilter": "gateway.envoyproxy.io/v1alpha1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
}
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_core_objects_validate_against_kubernetes_schemas(spec_name: str) -> None:
    checked = 0
    for objects in cluster_objects(spec_name).values():
        for obj in objects:
            if obj["kind"] in CORE_KINDS:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
                checked += 1
            elif obj["kind"] == "LeaderWorkerSet":
                # Its pod templates are core PodTemplateSpecs: check them with the real schema
                # (the e2e applies the whole object to an API server with the LWS CRD).
                lwt = obj["spec"]["leaderWorkerTemplate"]
                for key in ("leaderTemplate", "workerTemplate"):
                    wrapped = {
                        "apiVersion": "v1",
                        "kind": "PodTemplate",
                        "metadata": {"name": obj["metadata"]["name"]},
                        "template": lwt[key],
                    }
                    kubernetes_validate.validate(wrapped, KUBERNETES_VERSION, strict=True)
                    checked += 1
                assert obj["apiVersion"] == CRD_API[obj["kind"]]
            else:
                assert obj["apiVersion"] == CRD_API[obj["kind"]], obj["kind"]
    assert checked > 0


def test_the_validator_rejects_what_the_api_server_would() -> None:
    # Guards the test above: a typo and a wrong type must not pass silently.
    dep = of_kind(cluster_objects("all-features")["dc1"], "Deployment")[0]
    typo = {**dep, "spec": {**dep["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = {**dep, "spec": {**dep["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def _targets_gateway(obj: dict, name: str) -> None:
    assert obj["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    ]


def test_crd_objects_have_their_key_fields(spec_name: str) -> None:
    d = deployment_of(spec_name)
    for cluster, objects in cluster_objects(spec_name).items():
        namespace = d.cluster(cluster).namespace
        services = {o["metadata"]["name"] for o in of_kind(objects, "Service")}
        backends = {o["metadata"]["name"]: o for o in of_kind(objects, "Backend")}
        filters = {o["metadata"]["name"] for o in of_kind(objects, "HTTPRouteFilter")}
        gateways = of_kind(objects, "Gateway")
        for obj in objects:
            assert DNS_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
            if obj["kind"] not in ("Namespace", "GatewayClass"):  # the cluster-scoped ones
                assert obj["metadata"]["namespace"] == namespace
        peers = {f"{d.name}-peer-{p.peer}": p for p in d.gateway.peers_of(cluster)}
        for name, backend in backends.items():
            (endpoint,) = backend["spec"]["endpoints"]
            if name in peers:  # another cluster's gateway, over TLS, checked as the public name
                assert endpoint["fqdn"] == {"hostname": peers[name].address, "port": 443}
                assert backend["spec"]["fallback"] is True
                assert backend["spec"]["tls"] == {
                    "sni": d.gateway.hostname,
                    "wellKnownCACertificates": "System",
                }
                continue
            host, _, suffix = endpoint["fqdn"]["hostname"].partition(".")  # this cluster's Service
            assert host in services and suffix == f"{namespace}.svc.cluster.local"
            assert endpoint["fqdn"]["port"] == 8000
        if not gateways:
            continue
        (gateway,) = gateways
        (gateway_class,) = of_kind(objects, "GatewayClass")
        assert gateway_class["metadata"]["name"] == gateway["spec"]["gatewayClassName"]
        assert (
            gateway_class["spec"]["controllerName"]
            == "gateway.envoyproxy.io/gatewayclass-controller"
        )
        listeners = {x["name"]: x for x in gateway["spec"]["listeners"]}
        assert gateway["spec"]["gatewayClassName"] == "envoy-gateway"
        assert listeners["http"]["protocol"] == "HTTP" and listeners["http"]["port"] == 80
        if d.gateway.hostname:
            https = listeners["https"]
            assert (https["protocol"], https["port"], https["hostname"]) == (
                "HTTPS",
                443,
                d.gateway.hostname,
            )
            assert https["tls"]["certificateRefs"] == [
                {"group": "", "kind": "Secret", "name": f"{d.name}-tls"}
            ]
        for route in of_kind(objects, "HTTPRoute"):
            for parent in route["spec"]["parentRefs"]:
                assert parent["name"] == gateway["metadata"]["name"]
                assert parent["sectionName"] in listeners
            assert 1 <= len(route["spec"]["rules"]) <= 16
            for rule in route["spec"]["rules"]:
                for ref in rule.get("backendRefs", []):
                    known = services if ref["kind"] == "Service" else backends
                    assert ref["kind"] in ("Service", "Backend") and ref["name"] in known
                    assert ref["port"] == (443 if ref["name"] in peers else 8000)
                    assert 0 <= ref["weight"] <= 1_000_000
                for f in rule.get("filters", []):
                    assert f["type"] in {"ExtensionRef", "RequestRedirect"}
                    if f["type"] == "ExtensionRef":
                        assert f["extensionRef"]["kind"] == "HTTPRouteFilter"
                        assert f["extensionRef"]["name"] in filters
        for kind in (
            "ClientTrafficPolicy",
            "SecurityPolicy",
            "BackendTrafficPolicy",
            "EnvoyExtensionPolicy",
        ):
            for policy in of_kind(objects, kind):
                name = policy["metadata"]["name"]
                if name.endswith(("-failover", "-spill", "-health-open")):  # a route's own
                    (target,) = policy["spec"]["targetRefs"]
                    assert target["kind"] == "HTTPRoute"
                    assert target["name"] in {r["metadata"]["name"] for r in of_kind(objects, "HTTPRoute")}
                    continue
                _targets_gateway(policy, gateway["metadata"]["name"])
        for f in of_kind(objects, "HTTPRouteFilter"):
            if "credentialInjection" in f["spec"]:
                ref = f["spec"]["credentialInjection"]["credential"]["valueRef"]
                assert ref["name"].endswith("-upstream-key")
                continue
            response = f["spec"]["directResponse"]
            assert response["body"]["type"] == "Inline" and 100 <= response["statusCode"] <= 599
        (ext,) = of_kind(objects, "EnvoyExtensionPolicy")
        (lua,) = ext["spec"]["lua"]
        assert lua["type"] == "Inline" and "function envoy_on_request" in lua["inline"]
        (monitor,) = of_kind(objects, "ServiceMonitor")
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
