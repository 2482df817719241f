"""Which image a serving pod runs, and what the pod adds for it: launcher, weights, caches.

- upstream (the default, `engine.image: upstream`): `vllm/vllm-openai:v<version>` exactly as
  published, so an apply builds and pushes nothing. That image has no launcher and runs as
  root with a root-owned $HOME, so the pod brings both: the launcher package (the same files
  as the bundled image's `llmctl_serving`) in the model's serving ConfigMap, mounted read-only
  at /opt/llmctl/llmctl_serving; uid 10001 with HOME, USER (torch's getpass needs one) and the
  writable dirs set here.
- bundled (`engine.image: bundled`): llmctl's own image (`llmctl image build`), launcher and
  user inside; for registries that only take reviewed images, and air gaps.

Both kinds get the compile cache volume at /var/cache/llmctl (vLLM's torch.compile cache,
Triton, Inductor, FlashInfer and CUDA kernel caches), in a folder per vLLM version, GPU type
and model (`cache_key`), so that caches of different builds are never mixed. The volume is, in
this order: the model's own ReadWriteMany claim (`engine.compile_cache: pvc://CLAIM`); the
claim llmctl creates on a cluster that declares `compile_cache: {storage_class: ...}`; else the
pod's own volume, which outlives container restarts but not the pod, so every new pod compiles
cold. Measured (vLLM 0.26.0, H200, Llama-3.2-3B): 175 s to ready on an empty cache, 47 s for
the next pod on the same cache. A pvc:// model's claim is mounted read-only at /weights.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from llmctl.ir import ClusterIR, ModelIR, PoolIR
from llmctl.serving.config import WEIGHTS_DIR, weights_claim

Obj = dict[str, Any]

LAUNCHER_DIR = "/opt/llmctl"  # on PYTHONPATH; the package is LAUNCHER_DIR/llmctl_serving
LAUNCHER_PACKAGE = "llmctl_serving"
LAUNCHER_FILES = ("__init__.py", "flags.py", "launcher.py", "room.py", "vllm_versions.py")
COMPILE_CACHE_DIR = "/var/cache/llmctl"
COMPILE_CACHE_GIB = 20
CLUSTER_CACHE_CLAIM = "llmctl-compile-cache"  # the claim llmctl creates per cluster namespace
# Where each cache goes, under COMPILE_CACHE_DIR (the libraries' own variables).
_CACHE_ENV = (
    ("VLLM_CACHE_ROOT", "vllm"),  # torch.compile artifacts: vllm/torch_compile_cache
    ("TRITON_CACHE_DIR", "triton"),
    ("TORCHINDUCTOR_CACHE_DIR", "inductor"),
    ("FLASHINFER_WORKSPACE_BASE", "flashinfer"),
    ("CUDA_CACHE_PATH", "nv"),
)


def is_upstream(model: ModelIR) -> bool:
    """True when `model` runs the published vLLM image, with the launcher from its ConfigMap."""
    return model.engine.image_kind == "upstream"


def launcher_files() -> dict[str, str]:
    """The launcher package, {file name: source}, as the ConfigMap carries it."""
    here = Path(__file__).resolve().parents[1] / "serving"
    return {name: (here / name).read_text(encoding="utf-8") for name in LAUNCHER_FILES}


def describe_image(model: ModelIR, image: str) -> str:
    """One line for the plan: the image and whether anything has to be built first."""
    if is_upstream(model):
        return f"{image} (upstream; launcher from the ConfigMap; nothing to build)"
    return f"{image} (bundled; build and push it first: llmctl image build --push)"


CacheKind = Literal["model-claim", "cluster-claim", "pod"]


def compile_cache(model: ModelIR, cluster: ClusterIR) -> tuple[CacheKind, str | None]:
    """Where `model`'s compile caches live on `cluster`: (kind, claim name or None)."""
    if model.engine.compile_cache_claim:
        return "model-claim", model.engine.compile_cache_claim
    if cluster.compile_cache_class:
        return "cluster-claim", CLUSTER_CACHE_CLAIM
    return "pod", None


def starts_cold(model: ModelIR, cluster: ClusterIR) -> bool:
    """True when every new pod of `model` on `cluster` compiles from scratch."""
    return compile_cache(model, cluster)[0] == "pod"


def describe_compile_cache(model: ModelIR, cluster: ClusterIR) -> str:
    """One line for validate and plan: where the caches live and which pods start cold."""
    kind, claim = compile_cache(model, cluster)
    if kind == "pod":
        return "compile cache in each pod's own volume: every new pod compiles cold"
    return f"compile cache on claim {claim}: only the first pod of this build compiles cold"


def cache_key(model: ModelIR, pool: PoolIR) -> str:
    """The cache folder of one build: vLLM version, GPU type, model (a path, safe characters)."""
    parts = (f"vllm-{model.engine.vllm_version}", pool.gpu_model, model.name)
    return "/".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) or "_" for p in parts)


def pod_env(model: ModelIR, home: str, pool: PoolIR) -> list[Obj]:
    """Environment of the vLLM container beyond secrets: caches, and for upstream the user."""
    root = f"{COMPILE_CACHE_DIR}/{cache_key(model, pool)}"
    env: list[Obj] = [{"name": name, "value": f"{root}/{sub}"} for name, sub in _CACHE_ENV]
    if is_upstream(model):
        env += [
            {"name": "HOME", "value": home},
            {"name": "USER", "value": "llmctl"},
            {"name": "PYTHONPATH", "value": LAUNCHER_DIR},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},  # the package is read-only
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},  # as the bundled image sets
            {"name": "DO_NOT_TRACK", "value": "1"},
        ]
    return env


def extra_mounts(model: ModelIR) -> list[Obj]:
    """The container's mounts for the launcher (upstream), the weights claim and the caches."""
    mounts: list[Obj] = []
    if is_upstream(model):
        path = f"{LAUNCHER_DIR}/{LAUNCHER_PACKAGE}"
        mounts.append({"name": "launcher", "mountPath": path, "readOnly": True})
    if weights_claim(model):
        mounts.append({"name": "weights", "mountPath": WEIGHTS_DIR, "readOnly": True})
    mounts.append({"name": "compile-cache", "mountPath": COMPILE_CACHE_DIR})
    return mounts


def extra_volumes(model: ModelIR, config_map: str, cluster: ClusterIR) -> list[Obj]:
    """The pod's volumes behind `extra_mounts`."""
    volumes: list[Obj] = []
    if is_upstream(model):
        items = [{"key": name, "path": name} for name in LAUNCHER_FILES]
        volumes.append({"name": "launcher", "configMap": {"name": config_map, "items": items}})
    claim = weights_claim(model)
    if claim:
        volumes.append(
            {"name": "weights", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        )
    _, cache_claim = compile_cache(model, cluster)
    if cache_claim:
        volumes.append(
            {"name": "compile-cache", "persistentVolumeClaim": {"claimName": cache_claim}}
        )
    else:
        volumes.append(
            {"name": "compile-cache", "emptyDir": {"sizeLimit": f"{COMPILE_CACHE_GIB}Gi"}}
        )
    return volumes


def cache_claim_object(cluster: ClusterIR, labels: dict[str, str]) -> Obj:
    """The ReadWriteMany claim of a cluster that declares a compile-cache storage class."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": CLUSTER_CACHE_CLAIM,
            "namespace": cluster.namespace,
            "labels": labels,
            # Bound when the first pod mounts it (WaitForFirstConsumer classes): do not wait.
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": cluster.compile_cache_class,
            "resources": {"requests": {"storage": f"{cluster.compile_cache_gib}Gi"}},
        },
    }
