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
Triton, Inductor, FlashInfer and CUDA kernel caches): the pod's own volume, which outlives
container restarts, or a ReadWriteMany claim (`engine.compile_cache: pvc://CLAIM`) shared by
every replica, so a replacement pod starts in about the warm time. A pvc:// model's claim is
mounted read-only at /weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl.ir import ModelIR
from llmctl.serving.config import WEIGHTS_DIR, weights_claim

Obj = dict[str, Any]

LAUNCHER_DIR = "/opt/llmctl"  # on PYTHONPATH; the package is LAUNCHER_DIR/llmctl_serving
LAUNCHER_PACKAGE = "llmctl_serving"
LAUNCHER_FILES = ("__init__.py", "flags.py", "launcher.py", "room.py", "vllm_versions.py")
COMPILE_CACHE_DIR = "/var/cache/llmctl"
COMPILE_CACHE_GIB = 20
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


def pod_env(model: ModelIR, home: str) -> list[Obj]:
    """Environment of the vLLM container beyond secrets: caches, and for upstream the user."""
    env: list[Obj] = [
        {"name": name, "value": f"{COMPILE_CACHE_DIR}/{sub}"} for name, sub in _CACHE_ENV
    ]
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


def extra_volumes(model: ModelIR, config_map: str) -> list[Obj]:
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
    cache_claim = model.engine.compile_cache_claim
    if cache_claim:
        volumes.append(
            {"name": "compile-cache", "persistentVolumeClaim": {"claimName": cache_claim}}
        )
    else:
        volumes.append(
            {"name": "compile-cache", "emptyDir": {"sizeLimit": f"{COMPILE_CACHE_GIB}Gi"}}
        )
    return volumes
