"""Where vLLM's compile and kernel caches live: llmctl's shared claim on a cluster that declares a
ReadWriteMany class, a model's own claim, or each pod's volume; a folder per build."""

from __future__ import annotations

from render_helpers import cluster_objects, containers, deployment_of, of_kind

from llmctl.render.serving_image import (
    CLUSTER_CACHE_CLAIM,
    COMPILE_CACHE_DIR,
    cache_key,
    compile_cache,
    describe_compile_cache,
    starts_cold,
)


def _cache_volume(deployment: dict) -> dict:
    (volume,) = [
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "compile-cache"
    ]
    return volume


def _env(deployment: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in containers(deployment)[0]["env"] if "value" in e}


def test_a_cluster_with_a_storage_class_gets_one_shared_claim() -> None:
    objects = cluster_objects("shared-cache")
    (claim,) = of_kind(objects["dc1"], "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == CLUSTER_CACHE_CLAIM
    assert claim["metadata"]["namespace"] == "shared-cache"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "cephfs",
        "resources": {"requests": {"storage": "200Gi"}},
    }
    assert of_kind(objects["dc2"], "PersistentVolumeClaim") == []  # no class declared there


def test_each_pod_mounts_the_claim_its_cluster_and_model_say() -> None:
    objects = cluster_objects("shared-cache")
    by_name = {d["metadata"]["name"]: d for d in of_kind(objects["dc1"], "Deployment")}
    claims = {
        name: (_cache_volume(d).get("persistentVolumeClaim") or {}).get("claimName")
        for name, d in by_name.items()
    }
    assert sorted(claims.values()) == sorted(
        [CLUSTER_CACHE_CLAIM, CLUSTER_CACHE_CLAIM, "team-compile-cache"]
    )
    (dc2,) = of_kind(objects["dc2"], "Deployment")
    assert "emptyDir" in _cache_volume(dc2)  # the pod's own volume


def test_caches_of_different_builds_are_never_mixed() -> None:
    """vLLM version, GPU type and model each get their folder on a shared claim."""
    objects = cluster_objects("shared-cache")
    roots = set()
    for d in of_kind(objects["dc1"], "Deployment"):
        env = _env(d)
        root = env["VLLM_CACHE_ROOT"].removesuffix("/vllm")
        for name in ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "FLASHINFER_WORKSPACE_BASE"):
            assert env[name].startswith(root + "/")
        roots.add(root)
    assert roots == {
        f"{COMPILE_CACHE_DIR}/vllm-0.33.0/H200-141GB/llama-8b",
        f"{COMPILE_CACHE_DIR}/vllm-0.33.0/H100-80GB/llama-8b",
        f"{COMPILE_CACHE_DIR}/vllm-0.33.0/H200-141GB/qwen-7b",
    }


def test_a_key_is_a_plain_relative_path_whatever_the_gpu_is_called() -> None:
    d = deployment_of("shared-cache")
    model, pool = d.models[0], d.pool("dc1/h200")
    odd = pool.model_copy(update={"gpu_model": "NVIDIA A100/80GB ../x"})
    key = cache_key(model, odd)
    assert key.split("/") == ["vllm-0.33.0", "NVIDIA_A100_80GB_.._x", "llama-8b"]


def test_which_pods_start_cold_is_said_once_per_cluster_and_model() -> None:
    d = deployment_of("shared-cache")
    llama, qwen = d.models
    dc1, dc2 = d.cluster("dc1"), d.cluster("dc2")
    assert compile_cache(llama, dc1) == ("cluster-claim", CLUSTER_CACHE_CLAIM)
    assert compile_cache(qwen, dc1) == ("model-claim", "team-compile-cache")
    assert compile_cache(llama, dc2) == ("pod", None)
    assert not starts_cold(llama, dc1) and starts_cold(llama, dc2)
    assert "every new pod compiles cold" in describe_compile_cache(llama, dc2)
    assert "only the first pod" in describe_compile_cache(llama, dc1)


def test_validate_warns_only_where_later_pods_compile_cold() -> None:
    from render_helpers import SPECS

    from llmctl.compile import compile_file

    warnings = compile_file(SPECS["shared-cache"]).warnings
    (cold,) = [w for w in warnings if "compiles cold" in w.message]
    assert "'llama-8b'" in cold.message and "dc2/h200" in cold.message
    assert "dc1/" not in cold.message  # the shared claim covers dc1's pools
