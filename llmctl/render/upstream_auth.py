"""The serving pods check an API key of their own, which the gateway adds upstream.

The gateway authenticates clients; without more, anything else that reaches a pod's port (the
NetworkPolicy admits the gateway's Envoy pods and the monitoring namespace) could run inference
unauthenticated. vLLM checks `VLLM_API_KEY` on its /v1 paths only, so Prometheus still scrapes
/metrics and the probes still reach /health. The key lives in one Secret per cluster namespace,
`<deployment>-upstream-key`, with two entries: `VLLM_API_KEY` (the pods' environment) and
`credential` ("Bearer <key>", for Envoy Gateway's credential injection, which replaces the
client's Authorization header after the gateway has checked it). Rendered objects only name
the Secret: the cluster stack creates it at apply time (stacks/serving.py), with a key derived
from the state's passphrase so that it is stable across applies and never stored in the clear;
with `llmctl render` and GitOps, create it yourself (README).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from llmctl.ir import Deployment

UPSTREAM_KEY_ENV = "VLLM_API_KEY"
# A gateway that spills to another cluster's gateway sends its own pods' key upstream there too:
# the receiving cluster's API-key Secret lists it as client "llmctl-peer-<cluster>".
PEER_CLIENT_PREFIX = "llmctl-peer-"
CREDENTIAL_KEY = "credential"  # the Secret entry Envoy Gateway's credentialInjection reads


def upstream_key_secret_name(deployment: Deployment) -> str:
    """The Secret with the pods' API key (a deployment name is at most 40 characters)."""
    return f"{deployment.name}-upstream-key"


def upstream_key_env(deployment: Deployment) -> dict[str, Any]:
    """The serving container's VLLM_API_KEY, from the Secret."""
    ref = {"name": upstream_key_secret_name(deployment), "key": UPSTREAM_KEY_ENV}
    return {"name": UPSTREAM_KEY_ENV, "valueFrom": {"secretKeyRef": ref}}


def credential_injection_spec(deployment: Deployment) -> dict[str, Any]:
    """The HTTPRouteFilter spec that sets `Authorization: Bearer <pod key>` on upstream requests."""
    return {
        "credentialInjection": {
            "overwrite": True,
            "credential": {"valueRef": {"name": upstream_key_secret_name(deployment)}},
        }
    }


def upstream_key(passphrase: str, deployment: str, cluster: str) -> str:
    """The pods' key of one cluster: an HMAC of the state's passphrase, stable across applies."""
    message = f"llmctl upstream key/{deployment}/{cluster}".encode()
    return hmac.new(passphrase.encode(), message, hashlib.sha256).hexdigest()


def peer_keys(passphrase: str, deployment: Deployment, cluster: str) -> dict[str, str]:
    """The API-key entries `cluster`'s gateway accepts from the gateways that spill to it: each
    sender's pod key (which its credential injection puts on every upstream request)."""
    return {
        PEER_CLIENT_PREFIX + p.cluster: upstream_key(passphrase, deployment.name, p.cluster)
        for p in deployment.gateway.spills_to(cluster)
    }


def upstream_key_data(key: str) -> dict[str, str]:
    """The Secret's entries for `key`."""
    return {UPSTREAM_KEY_ENV: key, CREDENTIAL_KEY: f"Bearer {key}"}


# Egress of the serving pods: DNS anywhere (CoreDNS, or a node-local cache), and HTTPS to
# public addresses only when a model's weights come from Hugging Face or S3 (a pvc:// model
# needs no egress). Private ranges stay closed, the instance metadata endpoint included.
PRIVATE_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
)


def egress_rules(deployment: Deployment, cluster: str) -> list[dict[str, Any]]:
    """NetworkPolicy egress rules for the serving pods of `cluster`."""
    rules: list[dict[str, Any]] = [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    ]
    schemes = {m.source_scheme for m, _ in deployment.models_on(cluster)}
    if schemes & {"hf", "s3"}:
        block = {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}
        rules.append({"to": [{"ipBlock": block}], "ports": [{"port": 443, "protocol": "TCP"}]})
    return rules
