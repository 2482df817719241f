"""A multi-node replica rendered as a LeaderWorkerSet (examples/multi-node, and an AWS p5 pool
for EFA): the group's shape, leader-only traffic, one member per node, whole-group restarts,
the same hardening as a Deployment's pods, explicit defaults, and the canary and HPA paths."""

from __future__ import annotations

from render_helpers import cluster_objects, deployment_of, golden_release, of_kind

from llmctl.compile import compile_file
from llmctl.render.cluster import render_cluster_objects, render_model_objects
from llmctl.render.kubernetes import k8s_name
from llmctl.render.leaderworkerset import MAX_NAME, group_name

SPEC = "multi-node"


def _lws():
    d = deployment_of(SPEC)
    objects = cluster_objects(SPEC)["dc1"]
    (lws,) = of_kind(objects, "LeaderWorkerSet")
    return d, d.models[0], objects, lws


def test_one_group_per_replica_of_the_compiled_shape() -> None:
    d, model, objects, lws = _lws()
    assert model.group is not None and model.group.size == 2
    assert of_kind(objects, "Deployment") == []
    spec = lws["spec"]
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert spec["replicas"] == d.models[0].placements[0].min_replicas
    lwt = spec["leaderWorkerTemplate"]
    assert lwt["size"] == 2
    assert lwt["restartPolicy"] == "RecreateGroupOnPodRestart"  # a lost stage takes the group
    assert spec["startupPolicy"] == "LeaderCreated"  # the leader is Ready only with its workers
    # every field the LWS defaulting webhook would set is explicit
    assert spec["rolloutStrategy"]["type"] == "RollingUpdate"
    assert set(spec["rolloutStrategy"]["rollingUpdateConfiguration"]) == {
        "maxSurge", "maxUnavailable", "partition",
    }  # fmt: skip
    assert spec["networkConfig"] == {"subdomainPolicy": "Shared"}
    assert lws["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Available"


def test_leader_serves_workers_are_headless_and_both_are_hardened_alike() -> None:
    _, model, _, lws = _lws()
    lwt = lws["spec"]["leaderWorkerTemplate"]
    leader, worker = lwt["leaderTemplate"], lwt["workerTemplate"]
    (lc,) = leader["spec"]["containers"]
    (wc,) = worker["spec"]["containers"]
    assert lc["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(lc)
    assert "ports" not in wc and not {"startupProbe", "readinessProbe", "livenessProbe"} & set(wc)
    assert leader["metadata"]["labels"]["llmctl.dev/role"] == "leader"
    assert worker["metadata"]["labels"]["llmctl.dev/role"] == "worker"
    for tpl, c in ((leader, lc), (worker, wc)):
        pod = tpl["spec"]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == str(model.group.tensor_parallel) == "8"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] == model.timing.termination_grace_seconds
        assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert c["command"] == lc["command"] and c["image"] == lc["image"]
        assert {v["name"] for v in pod["volumes"]} >= {"config", "shm", "model-cache"}
        # one member of any group of this model per node
        (term,) = pod["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"]["llmctl.dev/model"] == model.name
        assert "llmctl.dev/track" not in term["labelSelector"]["matchLabels"]
        assert "topologySpreadConstraints" not in pod


def test_traffic_reaches_leaders_only_and_the_pdb_keeps_groups_whole() -> None:
    d, model, objects, lws = _lws()
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    service = services[k8s_name(model.name, "h100")]
    assert service["spec"]["selector"]["llmctl.dev/role"] == "leader"
    leader_labels = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["metadata"]["labels"]
    worker_labels = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= leader_labels.items()
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    # the LWS's own headless Service takes the LWS's name: it must not be the serving one
    assert lws["metadata"]["name"] != service["metadata"]["name"]
    routes = of_kind(objects, "HTTPRoute")
    refs = {
        r["name"]
        for o in routes
        for rule in o["spec"]["rules"]
        for r in rule.get("backendRefs", [])
    }
    assert service["metadata"]["name"] in refs
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "llmctl.dev/role" not in pdb["spec"]["selector"]["matchLabels"]  # every member
    assert pdb["spec"]["selector"]["matchLabels"].items() <= worker_labels.items()


def test_members_reach_each_other() -> None:
    _, model, objects, _ = _lws()
    policies = {p["metadata"]["name"]: p for p in of_kind(objects, "NetworkPolicy")}
    group = policies[k8s_name(model.name, "group")]["spec"]
    peers = [{"podSelector": {"matchLabels": group["podSelector"]["matchLabels"]}}]
    assert group["ingress"] == [{"from": peers}] and group["egress"] == [{"to": peers}]
    assert group["podSelector"]["matchLabels"]["llmctl.dev/model"] == model.name


def test_a_canary_is_a_whole_group_of_its_own() -> None:
    d, model, _, _ = _lws()
    placement = model.placements[0]
    objs = render_model_objects(d, model, placement, "img", track="canary", replicas=1)
    (lws,) = of_kind(objs, "LeaderWorkerSet")
    assert lws["metadata"]["name"] == group_name(model, "h100", "canary")
    assert lws["spec"]["replicas"] == 1 and lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    (svc,) = of_kind(objs, "Service")
    assert svc["spec"]["selector"]["llmctl.dev/track"] == "canary"
    assert of_kind(objs, "PodDisruptionBudget") == []


def test_an_autoscaled_multi_node_model_scales_groups() -> None:
    from llmctl.ir import AutoscalingIR

    d, model, _, _ = _lws()
    placement = model.placements[0].model_copy(update={"min_replicas": 1, "max_replicas": 2})
    scaled = model.model_copy(
        update={
            "autoscaling": AutoscalingIR(metric="requests_waiting", target=5),
            "placements": (placement,),
        }
    )
    d2 = d.model_copy(update={"models": (scaled,)})
    objs = render_model_objects(d2, scaled, placement, "img")
    (hpa,) = of_kind(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": group_name(model, "h100"),
    }
    (lws,) = of_kind(objs, "LeaderWorkerSet")
    assert "replicas" not in lws["spec"]  # the HPA owns the count


def test_names_stay_short_enough_for_lws_derived_names() -> None:
    d, model, _, _ = _lws()
    long = model.model_copy(update={"name": "m" * 60})
    name = group_name(long, "a-pool-with-a-long-name", "canary")
    assert len(name) <= MAX_NAME and name[0].isalpha()


AWS = """\
version: 1
name: big
clusters:
  - name: use1
    aws: {region: us-east-1, cluster: {create: true, version: "1.33"}}
    pools:
      - name: h100
        instance_type: p5.48xlarge
        min_nodes: 0
        max_nodes: 4
models:
  - name: llama-405b
    source: hf://meta-llama/Llama-3.1-405B-Instruct
    placements:
      - pool: use1/h100
        replicas: 1
    rollout: {strategy: rolling}
"""


def test_on_an_efa_instance_type_every_member_gets_the_nodes_efa_interfaces(tmp_path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(AWS)
    d = compile_file(path).deployment
    assert d.pool("use1/h100").efa_per_node == 32
    objects = render_cluster_objects(d, "use1", golden_release(d).images)
    (lws,) = of_kind(objects, "LeaderWorkerSet")
    for key in ("leaderTemplate", "workerTemplate"):
        (c,) = lws["spec"]["leaderWorkerTemplate"][key]["spec"]["containers"]
        assert c["resources"]["requests"]["vpc.amazonaws.com/efa"] == "32"
        assert c["resources"]["limits"]["vpc.amazonaws.com/efa"] == "32"


def test_single_node_models_get_no_efa_request(tmp_path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(AWS.replace("Llama-3.1-405B-Instruct", "Llama-3.1-8B-Instruct"))
    d = compile_file(path).deployment
    objects = render_cluster_objects(d, "use1", golden_release(d).images)
    (dep,) = of_kind(objects, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert "vpc.amazonaws.com/efa" not in c["resources"]["requests"]
