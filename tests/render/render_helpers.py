"""Helpers for the renderer tests: compiled specs (every examples/*/llm.yaml and the test-only
specs under tests/render/specs/) and their rendered objects, with fixed image tags so that the
golden files do not change whenever the launcher's code (hence the image's content hash) does."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from llmctl.compile import compile_file
from llmctl.ir import Deployment
from llmctl.release import Release, image_ref
from llmctl.serving.flags import SUPPORTED_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
SPECS = {p.parent.name: p for p in sorted((ROOT / "examples").glob("*/llm.yaml"))}
SPECS |= {p.stem: p for p in sorted((HERE / "specs").glob("*.yaml"))}
ALL_FEATURES = "all-features"
TAGS = {v: f"llmctl-vllm{v}-golden" for v in SUPPORTED_VERSIONS}
REPOSITORY = "registry.example.com/llmctl/vllm"
API_KEYS_ENV = "LLMCTL_TEST_API_KEYS"  # what tests/render/specs/all-features.yaml references
API_KEYS_VALUE = "alice=sk-llmctl-test-7f3a9c1e55d2b8e4,bob=sk-llmctl-test-0b1c2d3e4f5a6b7c"

Obj = dict[str, Any]


@cache
def deployment_of(name: str) -> Deployment:
    """The compiled IR of spec `name` (an example directory or a tests/render/specs stem)."""
    return compile_file(SPECS[name]).deployment


def golden_release(d: Deployment, tags: dict[str, str] = TAGS) -> Release:
    """The Release of `d` with llmctl's images in REPOSITORY under the fixed `tags`."""
    images = {m.name: image_ref(m, REPOSITORY, tags) for m in d.models}
    return Release(deployment=d, images=images, image_repository=REPOSITORY)


def cluster_objects(name: str) -> dict[str, list[Obj]]:
    """{cluster: objects} for spec `name`, rendered with the fixed tags."""
    from llmctl.render.cluster import render_cluster_objects

    d = deployment_of(name)
    images = golden_release(d).images
    return {c.name: render_cluster_objects(d, c.name, images) for c in d.clusters}


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    """The objects of one kind."""
    return [o for o in objects if o["kind"] == kind]


def containers(deployment_obj: Obj) -> list[Obj]:
    """The containers of a Deployment's pod template."""
    return deployment_obj["spec"]["template"]["spec"]["containers"]
