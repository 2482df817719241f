"""Rendered objects registered as pulumi-kubernetes resources, API-key Secrets, the on-prem stack."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from llmctl.engine.offline import collect_resources, run_offline
from llmctl.errors import LlmctlError
from llmctl.ir import AddonIR, ClusterIR
from llmctl.plan import Resource
from llmctl.stacks import stack_defs
from llmctl.stacks.charts import ENVOY_GATEWAY, KEDA
from llmctl.stacks.serving import (
    CustomObject,
    api_key_secret_refs,
    logical_name,
    parse_api_keys,
    register_serving_objects,
)
from tests.stacks.fixtures import (
    API_KEYS_ENV,
    NAME,
    deployment,
    named,
    objects_by_cluster,
    of_type,
    rendered_objects,
)

ANY_CLUSTER = ClusterIR(name="c", provider="kubernetes", namespace="llm")  # default addons
SECRET_VALUE = "sk-live-9f8e7d6c5b4a-DO-NOT-LEAK"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _objects_only(install_crds: bool) -> Callable[[], None]:
    def program() -> None:
        register_serving_objects(rendered_objects(), ANY_CLUSTER, install_crds=install_crds)

    return program


def test_rendered_equals_applied_one_resource_per_object() -> None:
    objects = rendered_objects()
    resources = collect_resources(_objects_only(False), "serving-test")
    assert len(resources) == len(objects)
    by_name = {r.name: r for r in resources}
    for obj in objects:
        r = by_name[logical_name(obj)]
        assert r.inputs["apiVersion"] == obj["apiVersion"]
        assert r.inputs["kind"] == obj["kind"]
        assert r.inputs["metadata"]["name"] == obj["metadata"]["name"]
        assert r.inputs["metadata"].get("namespace") == obj["metadata"].get("namespace")
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "core"
        # typed classes put the group in the token ("core/v1"); custom resources keep apiVersion
        assert r.type.startswith(f"kubernetes:{group}/") or r.type.startswith(
            f"kubernetes:{obj['apiVersion']}:"
        )
        for key in ("spec", "data"):
            if key in obj:
                assert r.inputs[key] == obj[key], f"{r.name}.{key} differs from the rendered one"


def test_core_kinds_are_typed_and_crd_kinds_custom() -> None:
    resources = collect_resources(_objects_only(False), "serving-test")
    types = {r.name: r.type for r in resources}
    assert types["deployment-support-bot-llama-8b-a100"] == "kubernetes:apps/v1:Deployment"
    assert types["namespace-support-bot"] == "kubernetes:core/v1:Namespace"
    assert types["poddisruptionbudget-support-bot-llama-8b"] == (
        "kubernetes:policy/v1:PodDisruptionBudget"
    )
    assert types["networkpolicy-support-bot-llama-8b"] == (
        "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    )
    assert types["horizontalpodautoscaler-support-bot-llama-8b-a100"] == (
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    )
    assert types["httproute-support-bot-llama-8b"] == (
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
    )
    assert types["servicemonitor-support-bot-llama-8b"] == (
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
    )
    assert types["gatewayclass-llmctl"] == "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
    deployment_res = named(
        resources, "kubernetes:apps/v1:Deployment", "deployment-support-bot-llama-8b-a100"
    )
    assert deployment_res.summary.startswith("2 replicas x 1 GPU, ")  # then the image


def test_namespace_and_crd_charts_come_before_what_needs_them() -> None:
    resources = collect_resources(_objects_only(True), "serving-test")
    names = [r.name for r in resources]
    releases = {r.name: r.inputs for r in of_type(resources, RELEASE)}
    assert set(releases) == {"envoy-gateway", "keda"}  # monitoring.coreos.com: the user's
    assert releases["envoy-gateway"]["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    assert releases["envoy-gateway"]["version"] == ENVOY_GATEWAY.version
    assert releases["keda"]["version"] == KEDA.version
    assert names[0] == "namespace-support-bot"
    first_crd_use = min(
        names.index(n)
        for n in names
        if n.startswith(
            ("gatewayclass-", "httproute-", "gateway-", "securitypolicy-", "scaledobject-")
        )
    )
    assert names.index("envoy-gateway") < first_crd_use
    assert names.index("keda") < names.index("scaledobject-support-bot-llama-8b-l40s")
    assert len(resources) == len(rendered_objects()) + 2


@pytest.mark.parametrize("wait", [True, False])
def test_gateway_waits_for_its_address_only_when_asked_and_exposes_status(wait: bool) -> None:
    """The DNS stack needs the address; without it, a cluster with no load balancer must not hang."""
    seen: list[object] = []

    def program() -> None:
        served = register_serving_objects(
            rendered_objects(), ANY_CLUSTER, install_crds=False, wait_for_address=wait
        )
        assert isinstance(served.gateway, CustomObject)
        seen.append(served.gateway.status)

    resources = collect_resources(program, "serving-test")
    gateway = named(
        resources, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway-support-bot-llmctl"
    )
    annotations = gateway.inputs["metadata"].get("annotations") or {}
    if wait:
        assert annotations == {"pulumi.com/waitFor": "jsonpath={.status.addresses[0].value}"}
    else:
        assert "pulumi.com/waitFor" not in annotations
    assert "status" not in gateway.inputs  # status is an output only
    assert len(seen) == 1


def _stack_run(cluster_index: int, env: str | None) -> tuple[list[Resource], dict[str, object]]:
    old = os.environ.pop(API_KEYS_ENV, None)
    if env is not None:
        os.environ[API_KEYS_ENV] = env
    try:
        stack = stack_defs(deployment(), objects_by_cluster())[cluster_index]
        run = run_offline(stack.program, stack.name)
        return run.resources, run.outputs
    finally:
        os.environ.pop(API_KEYS_ENV, None)
        if old is not None:
            os.environ[API_KEYS_ENV] = old


@pytest.mark.parametrize("cluster_index", [0, 1], ids=["aws", "onprem"])
def test_api_key_secret_is_created_and_never_shown(cluster_index: int) -> None:
    resources, outputs = _stack_run(cluster_index, f"ci={SECRET_VALUE},{SECRET_VALUE}-2")
    secret = named(resources, "kubernetes:core/v1:Secret", f"secret-support-bot-{NAME}-api-keys")
    assert secret.inputs["metadata"] == {"name": f"{NAME}-api-keys", "namespace": "support-bot"}
    assert secret.inputs["stringData"] == "[secret]"
    dumped = json.dumps([r.inputs for r in resources]) + json.dumps(outputs)
    assert SECRET_VALUE not in dumped
    assert "sk-live" not in dumped


def test_missing_api_key_env_is_an_error_naming_it() -> None:
    with pytest.raises(LlmctlError) as err:
        _stack_run(1, None)
    assert API_KEYS_ENV in err.value.message
    assert API_KEYS_ENV in err.value.hint


def test_preview_may_run_without_the_api_keys_when_asked() -> None:
    stack = stack_defs(deployment(), objects_by_cluster(), require_secrets=False)[1]
    old = os.environ.pop(API_KEYS_ENV, None)
    try:
        resources = collect_resources(stack.program, stack.name)
    finally:
        if old is not None:
            os.environ[API_KEYS_ENV] = old
    # the API keys' Secret, and the serving pods' own key (issue 14, item 12)
    assert len(of_type(resources, "kubernetes:core/v1:Secret")) == 2


def test_onprem_stack_uses_the_cluster_context_and_no_aws() -> None:
    resources, outputs = _stack_run(1, "k")
    provider = named(resources, "pulumi:providers:kubernetes", "k8s-dc1").inputs
    assert provider["context"] == "dc1-admin"
    assert provider["kubeconfig"] == os.path.expanduser("~/.kube/config")
    assert not [r for r in resources if r.type.startswith("aws:")]
    assert not [
        r
        for r in of_type(resources, RELEASE)
        if r.name in ("nvidia-device-plugin", "cluster-autoscaler")
    ]
    # the provider, the objects, two CRD charts, the API-key Secret, the pods' key Secret
    assert len(resources) == 1 + len(rendered_objects()) + 2 + 2
    assert "gateway_endpoint" in outputs


def test_api_key_parsing_and_references() -> None:
    assert parse_api_keys("a=k1, b = k2\nk3\n") == {"a": "k1", "b": "k2", "key-3": "k3"}
    refs = api_key_secret_refs(rendered_objects(namespace="llm"))
    assert refs == [("llm", f"{NAME}-api-keys")]
    assert api_key_secret_refs([]) == []


def test_envoy_gateway_is_installed_with_lua_backends_and_a_rate_limit_redis() -> None:
    from llmctl.compile import compile_file
    from llmctl.render.cluster import render_cluster_objects
    from llmctl.stacks.gateway_install import REDIS_NAME
    from tests.conftest import example

    d = compile_file(example("onprem")).deployment  # rate_limit: 1200 requests a minute per key
    objects = render_cluster_objects(d, "dc1")

    def rendered() -> None:
        register_serving_objects(objects, ANY_CLUSTER, install_crds=True)

    resources = collect_resources(rendered, "serving-onprem")
    (release,) = [r for r in resources if r.type == RELEASE and r.name == ENVOY_GATEWAY.release]
    config = release.inputs["values"]["config"]["envoyGateway"]
    assert config["extensionApis"] == {"enableLua": True, "enableBackend": True}
    assert config["gateway"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    url = config["rateLimit"]["backend"]["redis"]["url"]
    assert url == f"{REDIS_NAME}.{ENVOY_GATEWAY.namespace}.svc.cluster.local:6379"
    redis = [r for r in resources if REDIS_NAME in r.name]
    assert sorted(r.type for r in redis) == [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
    ]
    # without a global rate limit: no Redis, and no rateLimit in the controller's config
    calm = [o for o in objects if o["kind"] != "BackendTrafficPolicy"]

    def program() -> None:
        register_serving_objects(calm, ANY_CLUSTER, install_crds=True)

    resources = collect_resources(program, "serving-calm")
    (release,) = [r for r in resources if r.type == RELEASE and r.name == ENVOY_GATEWAY.release]
    assert "rateLimit" not in release.inputs["values"]["config"]["envoyGateway"]
    assert not [r for r in resources if REDIS_NAME in r.name]


def test_addons_skip_a_component_the_cluster_runs_and_take_a_local_chart(tmp_path) -> None:
    """`existing` installs no release (the objects still register); a local chart is used as is."""
    chart = tmp_path / "keda-chart"
    chart.mkdir()
    skip_eg = ClusterIR(
        name="c",
        provider="kubernetes",
        namespace="llm",
        addons=(
            AddonIR(name="envoy-gateway", install=False, set_by="spec"),
            AddonIR(name="keda", chart=str(chart), set_by="spec"),
        ),
    )
    objects = rendered_objects()

    def program() -> None:
        register_serving_objects(objects, skip_eg, install_crds=True)

    resources = collect_resources(program, "serving-addons")
    releases = {r.name: r for r in resources if r.type == RELEASE}
    assert ENVOY_GATEWAY.release not in releases
    assert len([r for r in resources if r.type != RELEASE]) >= len(objects)
    assert any(o["kind"] == "ScaledObject" for o in objects)  # so KEDA is needed
    assert releases[KEDA.release].inputs["chart"] == str(chart)
    assert "version" not in releases[KEDA.release].inputs


def test_serving_pods_get_a_stable_key_of_their_own_never_shown(monkeypatch) -> None:
    from llmctl.render.upstream_auth import upstream_key

    resources, outputs = _stack_run(1, "ci=k")
    secret = named(
        resources, "kubernetes:core/v1:Secret", "secret-support-bot-support-bot-upstream-key"
    )
    assert secret.inputs["metadata"] == {
        "name": "support-bot-upstream-key",
        "namespace": "support-bot",
    }
    assert secret.inputs["stringData"] == "[secret]"
    key = upstream_key("stack-tests-passphrase", "support-bot", "dc1")
    assert key not in json.dumps([r.inputs for r in resources]) + json.dumps(outputs)
    assert upstream_key("stack-tests-passphrase", "support-bot", "dc1") == key  # stable
    assert upstream_key("other", "support-bot", "dc1") != key


def test_apply_without_a_passphrase_is_an_error(monkeypatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("LLMCTL_HOME", "/nonexistent-llmctl-home")
    with pytest.raises(LlmctlError) as err:
        _stack_run(1, "ci=k")
    assert "passphrase" in err.value.message


def test_every_addon_is_named_as_its_helm_release() -> None:
    """`addon_chart` finds a pin's addon by its release name: the two name sets must agree."""
    from llmctl.compile.addons import ADDONS
    from llmctl.stacks.charts import (
        CLUSTER_AUTOSCALER,
        EFA_DEVICE_PLUGIN,
        KUBE_PROMETHEUS_STACK,
        LWS,
        NVIDIA_DEVICE_PLUGIN,
    )

    pins = (
        ENVOY_GATEWAY,
        KEDA,
        LWS,
        NVIDIA_DEVICE_PLUGIN,
        CLUSTER_AUTOSCALER,
        EFA_DEVICE_PLUGIN,
        KUBE_PROMETHEUS_STACK,
    )
    assert {p.release for p in pins} == set(ADDONS)
