"""Images someone has to build: the models whose serving image is llmctl's own (not the
published vLLM image), and the exact commands that build and use it. Plan and validate warn with
them. Which image a model runs is the Release's (`llmctl.release`); this module only reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmctl.errors import Diagnostic
from llmctl.ir import Deployment

if TYPE_CHECKING:
    from llmctl.compile import Compiled

PLACEHOLDER_REPOSITORY = "REGISTRY/llmctl-vllm"


@dataclass(frozen=True)
class ImageToBuild:
    """One image that must exist in a registry before an apply can start its models."""

    image: str  # repository:tag, as the Deployment would reference it
    vllm_version: str
    models: tuple[str, ...]
    first_model: int  # index in the spec's models, to place a validate warning


def images_to_build(deployment: Deployment, images: Mapping[str, str]) -> list[ImageToBuild]:
    """Every image (of `images`, {model: image}) that is not the published vLLM image as is."""
    found: dict[tuple[str, str], list[int]] = {}
    for i, m in enumerate(deployment.models):
        ref = images[m.name]
        if ref != m.engine.image:  # not the upstream image: llmctl's own, built by someone
            found.setdefault((ref, m.engine.vllm_version), []).append(i)
    return [
        ImageToBuild(ref, version, tuple(deployment.models[i].name for i in idx), idx[0])
        for (ref, version), idx in found.items()
    ]


def build_warning(item: ImageToBuild, spec_file: str, image_repository: str) -> str:
    """What to run, word for word, before an apply that uses `item`: the finding, then the
    commands, one per line (indented), so that they survive folding and copy-paste."""
    finding, commands = _finding_and_commands(item, spec_file, image_repository)
    return finding + ":\n" + "\n".join(f"    {c}" for c in commands)


def _finding_and_commands(
    item: ImageToBuild, spec_file: str, image_repository: str
) -> tuple[str, list[str]]:
    from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY

    one = len(item.models) == 1
    who = ("model " if one else "models ") + ", ".join(item.models)
    default = image_repository == DEFAULT_IMAGE_REPOSITORY
    repo = PLACEHOLDER_REPOSITORY if default else image_repository
    build = f"llmctl image build -f {spec_file} --repository {repo} --push"
    if default:
        return (
            f"{who} would run {item.image}, an image nobody has built (llmctl builds it: vLLM "
            f"{item.vllm_version} plus its launcher); build and push it to a registry your "
            "clusters can pull from, then apply with that repository",
            [build, f"llmctl apply -f {spec_file} --image-repository {repo}"],
        )
    return (
        f"{who} {'runs' if one else 'run'} {item.image}, an image llmctl builds (vLLM "
        f"{item.vllm_version} plus its launcher); if it is not pushed yet",
        [build],
    )


def build_diagnostics(compiled: Compiled, image_repository: str) -> list[Diagnostic]:
    """validate's warnings for images that must be built, placed at the first model that runs
    each. The tag is not computed here (it renders the build context): a placeholder stands in."""
    from llmctl.spec.source import format_path

    d, source = compiled.deployment, compiled.source
    from llmctl.release import image_ref

    tags = {m.engine.vllm_version: "<content-tag>" for m in d.models}
    images = {m.name: image_ref(m, image_repository, tags) for m in d.models}
    out = []
    for item in images_to_build(d, images):
        path = ("models", item.first_model, "name")
        line, col = source.position(path)
        finding, commands = _finding_and_commands(item, source.file, image_repository)
        hint = "run:\n" + "\n".join(f"      {c}" for c in commands)
        out.append(Diagnostic(finding, source.file, line, col, hint, "warning", format_path(path)))
    return out
