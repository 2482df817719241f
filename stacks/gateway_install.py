"""How Envoy Gateway is installed for the gateway objects llmctl renders.

Its Helm values (`config.envoyGateway`, the controller's EnvoyGateway configuration):

- `extensionApis.enableLua`: the model-header Lua filter (an EnvoyExtensionPolicy) is off by
  default in Envoy Gateway;
- `extensionApis.enableBackend`: Backend objects, which route fallbacks use;
- `rateLimit.backend`: the global rate limit (per API key, shared by every Envoy replica) keeps
  its counters in Redis. When a rendered BackendTrafficPolicy asks for a global rate limit, the
  stack runs a small Redis beside the controller (no persistence: losing the counters only resets
  a minute's window) and points the controller at it.

The GatewayClass is rendered with the other objects (llmctl.render.gateway), so GitOps users get
it from `llmctl render` too; users who install Envoy Gateway themselves need these values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
REDIS_NAME = "llmctl-ratelimit-redis"
REDIS_IMAGE = "redis:7.4.2-alpine"
REDIS_PORT = 6379
REDIS_UID = 999  # the `redis` user of the official image


def needs_global_rate_limit(objects: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any rendered BackendTrafficPolicy has a global rate limit."""
    return any(
        o.get("kind") == "BackendTrafficPolicy"
        and ((o.get("spec") or {}).get("rateLimit") or {}).get("type") == "Global"
        for o in objects
    )


def envoy_gateway_values(objects: Sequence[Mapping[str, Any]], namespace: str) -> dict[str, Any]:
    """The Helm values of the Envoy Gateway release for these objects."""
    config: dict[str, Any] = {
        "gateway": {"controllerName": GATEWAY_CONTROLLER},
        "provider": {"type": "Kubernetes"},
        "extensionApis": {"enableLua": True, "enableBackend": True},
    }
    if needs_global_rate_limit(objects):
        url = f"{REDIS_NAME}.{namespace}.svc.cluster.local:{REDIS_PORT}"
        config["rateLimit"] = {"backend": {"type": "Redis", "redis": {"url": url}}}
    return {"config": {"envoyGateway": config}}


def redis_objects(namespace: str) -> list[dict[str, Any]]:
    """The rate limit's Redis: a Deployment and its Service, in Envoy Gateway's namespace."""
    labels = {"app.kubernetes.io/name": REDIS_NAME, "app.kubernetes.io/managed-by": "llmctl"}
    meta = {"name": REDIS_NAME, "namespace": namespace, "labels": labels}
    container = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "args": ["--save", "", "--appendonly", "no"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": REDIS_UID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 5},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": REDIS_NAME}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": {"app.kubernetes.io/name": REDIS_NAME},
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": REDIS_PORT}],
        },
    }
    return [deployment, service]
