"""The rendered Kubernetes objects, registered as pulumi-kubernetes resources, and the API-key Secrets.

`register_serving_objects` takes the very dicts `llmctl render` writes and registers each one as
it is: what a GitOps tool would apply from `render -o` and what `apply` applies are the same
objects. Core kinds get their typed class (a dispatch table on apiVersion and kind); anything else
is a custom resource. Logical names are `<kind>-<namespace>-<name>` (cluster-scoped objects:
`<kind>-<name>`), lower-case, so they stay stable across revisions.

Order: Namespaces first; then, once per chart, the Helm releases (Envoy Gateway with the values
of gateway_install.py, and the Redis its global rate limit needs) that provide the CRDs of the API
groups the objects use (`charts.crd_provider`: Envoy Gateway for the Gateway API and
gateway.envoyproxy.io, KEDA for keda.sh, kube-prometheus-stack for monitoring.coreos.com where llmctl
installs a Prometheus); then every other object, depending on its Namespace and,
for a custom resource, on the release that installs its CRD.

One addition to a rendered object, when the DNS stack needs the gateway's address
(`wait_for_address`): a Gateway gets the annotation
`pulumi.com/waitFor: jsonpath={.status.addresses[0].value}` unless it has one, so an apply waits
for the gateway's load balancer and the stack can export its address (`gateway_endpoint`), the
DNS stack's input. Without a DNS stack nothing waits for an address: a cluster with no load
balancer (bare metal without MetalLB, say) would otherwise hang the apply.

API keys: rendered objects never hold a key. `register_api_key_secrets` reads the environment
variable the spec names (`gateway.api_keys.secret_env`) while the program runs, and creates each
Secret a SecurityPolicy's `apiKeyAuth.credentialRefs` names, its data wrapped in
`pulumi.Output.secret` so Pulumi encrypts it in state and masks it in output. The variable holds
`client=key` entries separated by commas or newlines (a bare `key` gets the client id `key-N`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from llmctl.errors import LlmctlError
from llmctl.ir import ClusterIR, Deployment

from .charts import (
    ENVOY_GATEWAY,
    KUBE_PROMETHEUS_STACK,
    ChartPin,
    addon_chart,
    crd_provider,
    kube_prometheus_stack_values,
)
from .gateway_install import envoy_gateway_values, needs_global_rate_limit, redis_objects

WAIT_FOR = "pulumi.com/waitFor"
GATEWAY_ADDRESS = "jsonpath={.status.addresses[0].value}"

TYPED_KINDS: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}


class CustomObject(CustomResource):
    """A custom resource carrying every top-level field of its object, with `status` as an output."""

    status: pulumi.Output[Any]

    def __init__(
        self, resource_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        self._object = obj
        super().__init__(resource_name, obj["apiVersion"], obj["kind"], opts=opts)

    def _internal_init(self, resource_name: str, api_version: str, kind: str, opts=None, **_: Any):  # type: ignore[no-untyped-def,override]
        # CustomResource only knows metadata and spec; pass the whole object, and ask for status.
        props = {k: v for k, v in self._object.items() if k != "status"}
        props["status"] = None
        pulumi.CustomResource.__init__(
            self, f"kubernetes:{api_version}:{kind}", resource_name, props, opts
        )


@dataclass
class ServingResources:
    """What `register_serving_objects` registered."""

    objects: list[pulumi.CustomResource] = field(default_factory=list)  # one per object, in order
    releases: dict[str, k8s.helm.v3.Release] = field(default_factory=dict)  # CRD providers
    namespaces: dict[str, pulumi.CustomResource] = field(default_factory=dict)
    gateway: CustomObject | None = None  # the (first) Gateway, for its address
    support: list[pulumi.CustomResource] = field(
        default_factory=list
    )  # e.g. the rate limit's Redis


def logical_name(obj: Mapping[str, Any]) -> str:
    """`<kind>-<namespace>-<name>`, or `<kind>-<name>` for a cluster-scoped object."""
    meta = obj.get("metadata") or {}
    parts = [obj["kind"], meta.get("namespace"), meta["name"]]
    return "-".join(p for p in parts if p).lower()


def api_group(obj: Mapping[str, Any]) -> str:
    """The object's API group; "" for the core group."""
    api_version: str = obj["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def helm_release(
    pin: ChartPin, values: pulumi.Input[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart, in its own namespace, waiting until it is ready."""
    return k8s.helm.v3.Release(
        pin.release,
        name=pin.release,
        chart=pin.chart,
        version=pin.version or None,  # a local chart: the version of its Chart.yaml
        namespace=pin.namespace,
        create_namespace=True,
        repository_opts={"repo": pin.repo} if pin.repo else None,
        values=values,
        opts=opts,
    )


def register_serving_objects(
    objects: Sequence[Mapping[str, Any]],
    cluster: ClusterIR,
    provider: pulumi.ProviderResource | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
    install_crds: bool = True,
    wait_for_address: bool = False,
) -> ServingResources:
    """Register every rendered object once, as given, Namespaces and CRD charts first (each
    from where the cluster's addons say; none for a component the cluster already runs)."""
    out = ServingResources()
    base = list(depends_on)
    namespaces = out.namespaces
    registered: dict[int, pulumi.CustomResource] = {}
    for i, obj in enumerate(objects):
        if (obj["apiVersion"], obj["kind"]) == ("v1", "Namespace"):
            ns = _register(obj, pulumi.ResourceOptions(provider=provider, depends_on=base))
            namespaces[obj["metadata"]["name"]] = ns
            registered[i] = ns
    if install_crds:
        for obj in objects:
            pin = crd_provider(cluster, api_group(obj))
            if pin is None or pin.release in out.releases:
                continue
            chart = addon_chart(cluster, pin)
            if chart is not None:
                opts = pulumi.ResourceOptions(provider=provider, depends_on=base)
                values = (
                    envoy_gateway_values(objects, pin.namespace)
                    if pin is ENVOY_GATEWAY
                    else kube_prometheus_stack_values()
                    if pin is KUBE_PROMETHEUS_STACK
                    else {}
                )
                out.releases[pin.release] = helm_release(chart, values, opts)
        gateway_release = out.releases.get(ENVOY_GATEWAY.release)
        if gateway_release is not None and needs_global_rate_limit(objects):
            for obj in redis_objects(ENVOY_GATEWAY.namespace):
                opts = pulumi.ResourceOptions(provider=provider, depends_on=[gateway_release])
                out.support.append(_register(obj, opts))
    for i, obj in enumerate(objects):
        if i in registered:
            continue
        deps = list(base)
        namespace = (obj.get("metadata") or {}).get("namespace")
        if namespace in namespaces:
            deps.append(namespaces[namespace])
        pin = crd_provider(cluster, api_group(obj))
        if pin is not None and pin.release in out.releases:
            deps.append(out.releases[pin.release])
        is_gateway = obj["kind"] == "Gateway" and api_group(obj) == "gateway.networking.k8s.io"
        if is_gateway and wait_for_address:
            obj = _with_wait_for_address(obj)
        resource = _register(obj, pulumi.ResourceOptions(provider=provider, depends_on=deps))
        registered[i] = resource
        if isinstance(resource, CustomObject) and obj["kind"] == "Gateway" and out.gateway is None:
            out.gateway = resource
    out.objects = [registered[i] for i in range(len(objects))]
    return out


def _register(obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One object: its typed class when it is a core kind, a custom resource otherwise."""
    name = logical_name(obj)
    cls = TYPED_KINDS.get((obj["apiVersion"], obj["kind"]))
    if cls is not None:
        fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
        return cls(name, opts=opts, **fields)  # type: ignore[no-any-return]
    return CustomObject(name, obj, opts=opts)


def _with_wait_for_address(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Gateway, annotated so that Pulumi waits for its load balancer's address."""
    meta = dict(obj.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    annotations.setdefault(WAIT_FOR, GATEWAY_ADDRESS)
    meta["annotations"] = annotations
    return {**obj, "metadata": meta}


def _snake(key: str) -> str:
    """`stringData` -> `string_data`: the typed classes' keyword for a top-level field."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def api_key_secret_refs(objects: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, name) of every Secret a SecurityPolicy's apiKeyAuth refers to, in order."""
    refs: list[tuple[str, str]] = []
    for obj in objects:
        if obj["kind"] != "SecurityPolicy" or api_group(obj) != "gateway.envoyproxy.io":
            continue
        namespace = obj["metadata"].get("namespace", "default")
        for ref in (obj.get("spec", {}).get("apiKeyAuth") or {}).get("credentialRefs", []):
            key = (ref.get("namespace", namespace), ref["name"])
            if key not in refs:
                refs.append(key)
    return refs


def parse_api_keys(text: str) -> dict[str, str]:
    """`client=key` entries, comma- or newline-separated, into {client: key}."""
    keys: dict[str, str] = {}
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
    for n, entry in enumerate(entries, start=1):
        client, sep, key = entry.partition("=")
        if sep:
            keys[client.strip()] = key.strip()
        else:
            keys[f"key-{n}"] = entry
    return keys


def register_api_key_secrets(
    deployment: Deployment,
    objects: Sequence[Mapping[str, Any]],
    default_namespace: str,
    provider: pulumi.ProviderResource | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
    require: bool = True,
    cluster: str | None = None,
) -> list[k8s.core.v1.Secret]:
    """The API-key Secrets the gateway of `cluster` checks, filled from the environment at run
    time, plus the keys of the gateways that spill to it (llmctl/render/upstream_auth.py)."""
    env = deployment.gateway.api_keys_secret_env
    if not env:
        return []
    text = os.environ.get(env, "")
    if not text.strip() and require:
        raise LlmctlError(
            f"environment variable {env} is not set; it holds the gateway's API keys",
            hint=f"export {env}='client-a=KEY,client-b=KEY' before running apply",
        )
    keys = parse_api_keys(text)  # empty only in a preview that does not require the keys
    if cluster is not None and deployment.gateway.spills_to(cluster):
        from llmctl.render.upstream_auth import peer_keys

        # The gateways that spill here authenticate with their own pods' key (derived from the
        # passphrase, like ours; never rendered or printed).
        passphrase = _passphrase()
        if passphrase is None and require:
            raise LlmctlError(
                "no secrets passphrase to derive the spilling gateways' keys from",
                hint="set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), as apply needs",
            )
        keys = {**keys, **peer_keys(passphrase or "preview", deployment, cluster)}
    refs = api_key_secret_refs(objects) or [(default_namespace, f"{deployment.name}-api-keys")]
    return [
        k8s.core.v1.Secret(
            f"secret-{namespace}-{name}",
            metadata={"name": name, "namespace": namespace},
            type="Opaque",
            string_data=pulumi.Output.secret(keys),
            opts=pulumi.ResourceOptions(
                provider=provider,
                depends_on=list(depends_on),
                additional_secret_outputs=["data", "stringData"],
            ),
        )
        for namespace, name in refs
    ]


def _passphrase() -> str | None:
    """The state's secrets passphrase, as the engine hands it to Pulumi, if there is one here
    (never created: an offline plan has none)."""
    from llmctl.home import llmctl_home

    if os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return os.environ["PULUMI_CONFIG_PASSPHRASE"]
    candidates = [os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"), llmctl_home() / "passphrase"]
    for path in candidates:
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
            if value:
                return value
    return None


def register_upstream_key_secret(
    deployment: Deployment,
    cluster: str,
    namespace: str,
    provider: pulumi.ProviderResource | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
    require: bool = True,
) -> k8s.core.v1.Secret:
    """The Secret with the serving pods' own API key (llmctl/render/upstream_auth.py): derived
    from the state's passphrase, so stable across applies, and a Pulumi secret throughout."""
    from llmctl.render.upstream_auth import (
        upstream_key,
        upstream_key_data,
        upstream_key_secret_name,
    )

    passphrase = _passphrase()
    if passphrase is None and require:
        raise LlmctlError(
            "no secrets passphrase to derive the serving pods' API key from",
            hint="set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), as apply needs",
        )
    key = upstream_key(passphrase or "preview", deployment.name, cluster)
    name = upstream_key_secret_name(deployment)
    return k8s.core.v1.Secret(
        f"secret-{namespace}-{name}",
        metadata={"name": name, "namespace": namespace},
        type="Opaque",
        string_data=pulumi.Output.secret(upstream_key_data(key)),
        opts=pulumi.ResourceOptions(
            provider=provider,
            depends_on=list(depends_on),
            additional_secret_outputs=["data", "stringData"],
        ),
    )
