"""The serving objects: probes and timings, volumes, resources, scheduling, labels, security."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from render_helpers import (
    ALL_FEATURES,
    REPOSITORY,
    TAGS,
    cluster_objects,
    containers,
    deployment_of,
    of_kind,
)

from llmctl.image import IMAGE_UID
from llmctl.metrics import POD_MODEL_LABEL, POD_TRACK_LABEL, SERVICE_MONITOR_RELABELINGS
from llmctl.render.cluster import KIND_ORDER, render_cluster_objects, render_model_objects
from llmctl.render.kubernetes import k8s_name, serving_json
from llmctl.serving.launcher import load_config


def _workloads(spec: str):
    """(cluster, Deployment object, ModelIR, PlacementIR) for every stable single-node workload
    of `spec` (multi-node ones are LeaderWorkerSets: test_render_leaderworkerset.py)."""
    d = deployment_of(spec)
    for cluster, objects in cluster_objects(spec).items():
        by_name = {o["metadata"]["name"]: o for o in of_kind(objects, "Deployment")}
        for model, placement in d.models_on(cluster):
            if model.group is not None:
                continue
            pool = d.pool(placement.pool)
            yield cluster, by_name[k8s_name(model.name, pool.name)], model, placement


def test_every_spec_renders_objects_for_each_cluster(spec_name: str) -> None:
    d = deployment_of(spec_name)
    rendered = cluster_objects(spec_name)
    assert set(rendered) == {c.name for c in d.clusters}
    for cluster, objects in rendered.items():
        assert objects[0]["kind"] == "Namespace"
        assert objects[0]["metadata"]["name"] == d.cluster(cluster).namespace
        kinds = [KIND_ORDER.index(o["kind"]) for o in objects]
        assert kinds == sorted(kinds), "objects are not in apply order"
        names = [(o["kind"], o["metadata"]["name"]) for o in objects]
        assert len(names) == len(set(names))
        workloads = of_kind(objects, "Deployment") + of_kind(objects, "LeaderWorkerSet")
        assert len(workloads) == len(d.models_on(cluster))


def test_probes_and_shutdown_timings(spec_name: str) -> None:
    for _, dep, model, _ in _workloads(spec_name):
        pod = dep["spec"]["template"]["spec"]
        (c,) = containers(dep)
        t = model.timing
        startup = c["startupProbe"]
        assert startup["httpGet"] == {"path": "/health", "port": "http"}
        assert startup["failureThreshold"] * startup["periodSeconds"] >= t.startup_budget_seconds
        assert (startup["failureThreshold"] - 1) * startup[
            "periodSeconds"
        ] < t.startup_budget_seconds
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["path"] == "/health"
        assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(t.pre_stop_seconds)]
        grace = pod["terminationGracePeriodSeconds"]
        assert grace == t.termination_grace_seconds
        assert grace > t.pre_stop_seconds + t.shutdown_timeout_seconds
        config = json.loads(serving_json(model))
        assert config["shutdown_timeout_seconds"] == t.shutdown_timeout_seconds


def test_pod_spec_volumes_resources_and_scheduling(spec_name: str) -> None:
    d = deployment_of(spec_name)
    for _, dep, model, placement in _workloads(spec_name):
        pod = dep["spec"]["template"]["spec"]
        (c,) = containers(dep)
        pool = d.pool(placement.pool)
        assert pod["enableServiceLinks"] is False
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == k8s_name(model.name, "serving")
        volumes = {v["name"]: v for v in pod["volumes"]}
        shm = volumes["shm"]["emptyDir"]
        assert shm["medium"] == "Memory"
        assert shm["sizeLimit"] == f"{1 + 2 * (model.tensor_parallel - 1)}Gi"
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts["/dev/shm"] == "shm" and mounts["/etc/llmctl"] == "config"
        assert {"/models", "/tmp", "/home/llmctl"} <= set(mounts)  # writable, root fs read-only
        cache = int(volumes["model-cache"]["emptyDir"]["sizeLimit"].removesuffix("Gi"))
        if model.source_scheme == "hf":
            assert cache >= 1.2 * model.sizing.weights_gib
        gpus = str(model.tensor_parallel)
        assert c["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert c["resources"]["requests"]["nvidia.com/gpu"] == gpus
        memory = int(c["resources"]["requests"]["memory"].removesuffix("Gi"))
        shm_gib = int(shm["sizeLimit"].removesuffix("Gi"))
        assert c["resources"]["limits"]["memory"] == f"{memory + shm_gib}Gi"  # tmpfs is charged
        assert pod["nodeSelector"] == pool.node_selector
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        if model.engine.image_kind == "upstream":  # published image: nothing to build
            assert c["image"] == f"vllm/vllm-openai:v{model.engine.vllm_version}"
        else:
            assert c["image"] == f"{REPOSITORY}:{TAGS[model.engine.vllm_version]}"
        assert c["command"] == ["python3", "-m", "llmctl_serving.launcher"]
        assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_security_context_matches_the_image_user(spec_name: str) -> None:
    for _, dep, _, _ in _workloads(spec_name):
        pod = dep["spec"]["template"]["spec"]
        (c,) = containers(dep)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID == 10001  # USER in Dockerfile.j2
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True


def test_labels_and_selectors(spec_name: str) -> None:
    d = deployment_of(spec_name)
    for cluster, dep, model, placement in _workloads(spec_name):
        pool = d.pool(placement.pool)
        labels = dep["spec"]["template"]["metadata"]["labels"]
        expected = {
            "app.kubernetes.io/name": "vllm",
            "app.kubernetes.io/instance": d.name,
            "app.kubernetes.io/managed-by": "llmctl",
            POD_MODEL_LABEL: model.name,
            "llmctl.dev/pool": pool.name,
            POD_TRACK_LABEL: "stable",
            "llmctl.dev/identity": model.identity(),
            **d.labels,
        }
        assert labels == expected
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert "llmctl.dev/identity" not in selector  # selectors are immutable; identity changes
        services = {
            s["metadata"]["name"]: s
            for s in of_kind(cluster_objects(spec_name)[cluster], "Service")
        }
        assert services[dep["metadata"]["name"]]["spec"]["selector"] == selector


def test_serving_config_is_mounted_and_loadable_by_the_launcher(tmp_path) -> None:
    objects = cluster_objects(ALL_FEATURES)["dc1"]
    maps = {o["metadata"]["name"]: o for o in of_kind(objects, "ConfigMap")}
    for dep in of_kind(objects, "Deployment"):
        pod = dep["spec"]["template"]
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "config")
        data = maps[volume["configMap"]["name"]]["data"]
        text = data["serving.json"]
        assert pod["metadata"]["annotations"]["llmctl.dev/serving-config-sha256"] == (
            hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        )
        path = tmp_path / "serving.json"
        path.write_text(text)
        config, _ = load_config({"LLMCTL_SERVING_CONFIG": str(path)})  # the real launcher's check
        assert config["api_key_env"] == "VLLM_API_KEY"  # the pods' own key (issue 14, 12)
        env = {e["name"]: e for e in containers(dep)[0]["env"]}
        secret_ref = env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert secret_ref == {"name": "support-bot-upstream-key", "key": "VLLM_API_KEY"}
        model = config["model"]
        if model == "llama-8b":
            assert config["hf_token_env"] == "HF_TOKEN"
            assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {
                "name": "hf-token",
                "key": "HF_TOKEN",
            }
        else:
            assert config["load"]["mode"] == "stream" and "HF_TOKEN" not in env


def test_autoscaled_placements_get_an_hpa_and_no_fixed_replicas() -> None:
    d = deployment_of(ALL_FEATURES)
    dc1 = cluster_objects(ALL_FEATURES)["dc1"]
    (hpa,) = of_kind(dc1, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "llama-8b-a100",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == "vllm_num_requests_waiting"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "5"}
    deps = {o["metadata"]["name"]: o for o in of_kind(dc1, "Deployment")}
    assert "replicas" not in deps["llama-8b-a100"]["spec"]  # the HPA owns it
    assert deps["llama-70b-a100"]["spec"]["replicas"] == 2  # max == min: fixed, no HPA
    cloud = cluster_objects(ALL_FEATURES)["cloud"]
    (hpa_cloud,) = of_kind(cloud, "HorizontalPodAutoscaler")
    assert hpa_cloud["metadata"]["name"] == "llama-8b-l40s"
    # min 0: an HPA cannot scale up from zero pods on pod metrics, so none is rendered.
    deps_cloud = {o["metadata"]["name"]: o for o in of_kind(cloud, "Deployment")}
    assert deps_cloud["llama-70b-l40s"]["spec"]["replicas"] == 0
    assert (
        d.models[1].autoscaling is not None and d.models[1].autoscaling.metric == "kv_cache_usage"
    )


def test_pdb_network_policy_and_service_monitor() -> None:
    d = deployment_of(ALL_FEATURES)
    objects = cluster_objects(ALL_FEATURES)["dc1"]
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"][POD_TRACK_LABEL] == "stable"
    (policy,) = of_kind(objects, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": d.name,
    }
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    gateway_peer, monitoring_peer = rule["from"]
    assert gateway_peer["podSelector"]["matchLabels"] == {
        "gateway.envoyproxy.io/owning-gateway-name": d.name,
        "gateway.envoyproxy.io/owning-gateway-namespace": "llm",
    }
    assert monitoring_peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    (monitor,) = of_kind(objects, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"
    assert endpoint["relabelings"] == list(SERVICE_MONITOR_RELABELINGS)
    targets = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
    assert targets == {
        "llmctl_model": ["__meta_kubernetes_pod_label_llmctl_dev_model"],
        "track": ["__meta_kubernetes_pod_label_llmctl_dev_track"],
    }
    services = of_kind(objects, "Service")
    assert all(
        monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        for s in services
    )


def test_canary_objects_are_a_separate_track() -> None:
    d = deployment_of(ALL_FEATURES)
    model = d.models[0]
    placement = model.placements[0]
    objects = render_model_objects(d, model, placement, "r/vllm:new", track="canary", replicas=1)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Deployment", "Service"]  # no HPA, no PDB
    cm, dep, svc = objects
    assert cm["metadata"]["name"] == "llama-8b-serving-canary"
    assert dep["metadata"]["name"] == svc["metadata"]["name"] == "llama-8b-a100-canary"
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["selector"]["matchLabels"][POD_TRACK_LABEL] == "canary"
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert containers(dep)[0]["image"] == "r/vllm:new"
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "llama-8b-serving-canary"
    stable = render_model_objects(d, model, placement, "r/vllm:old")
    assert {o["kind"] for o in stable} >= {"HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_default_image_tags_are_the_content_hash_tags() -> None:
    from llmctl.image import image_tag, render_image_context
    from llmctl.release import content_tags

    d = deployment_of(ALL_FEATURES)
    tags = content_tags([m.engine.vllm_version for m in d.models])
    assert tags == {v: image_tag(render_image_context(v)) for v in ("0.10.2", "0.11.0")}
    objects = render_cluster_objects(d, "dc1")
    images = {containers(o)[0]["image"] for o in of_kind(objects, "Deployment")}
    # llama-8b runs the published image (the default), llama-70b llmctl's bundled one.
    assert images == {"vllm/vllm-openai:v0.11.0", f"llmctl/vllm:{tags['0.10.2']}"}


def test_names_are_valid_dns_labels() -> None:
    assert k8s_name("llama-8b", "a100") == "llama-8b-a100"
    assert k8s_name("7b", "l4") == "m-7b-l4"  # Service names must start with a letter
    long = k8s_name("a" * 60, "pool", "canary")
    assert len(long) <= 63 and long != k8s_name("a" * 60, "pool2", "canary")
    assert k8s_name("x" * 63) == "x" * 63


def test_overflow_placement_from_zero_gets_a_keda_scaled_object():
    from llmctl.compile import compile_file

    d = compile_file(
        Path(__file__).resolve().parents[2] / "examples" / "hybrid" / "llm.yaml"
    ).deployment
    objects = render_cluster_objects(d, "aws")
    [scaled] = [o for o in objects if o["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "mistral-7b-burst"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 6)
    [trigger] = scaled["spec"]["triggers"]
    # the aws cluster's own monitoring: the on-prem Prometheus at an address it can reach
    assert trigger["metadata"]["serverAddress"] == d.cluster("aws").prometheus_url
    assert trigger["metadata"]["serverAddress"] == "https://prometheus.rack7.support.example.com"
    assert (
        trigger["metadata"]["query"] == 'sum(vllm:num_requests_waiting{llmctl_model="mistral-7b"})'
    )
    assert trigger["metadata"]["threshold"] == "8"  # the model's requests_waiting target
    burst = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "mistral-7b-burst"
    )
    assert "replicas" not in burst["spec"], "KEDA owns the replica count"
    hpas = [o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpas == ["mistral-7b-standby"]  # min 1: the HPA scales it; the burst is KEDA's
