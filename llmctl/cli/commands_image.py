"""`llmctl image render|build`: the bundled vLLM serving image, one per pinned vLLM version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmctl.cli import output
from llmctl.cli.commands_spec import JsonFlag, SpecFile
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY

image_app = typer.Typer(
    help="The serving image: vLLM at the pinned version plus llmctl's launcher.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `image` command group to the root app."""
    app.add_typer(image_app, name="image")


def _contexts(file: Path) -> tuple[str, dict[str, dict[str, bytes]]]:
    """The spec's name and the build context of each vLLM version it uses."""
    from llmctl.compile import compile_file
    from llmctl.image import render_image_context

    deployment = compile_file(file).deployment
    versions = sorted({m.engine.vllm_version for m in deployment.models})
    return deployment.name, {v: render_image_context(v) for v in versions}


@image_app.command("render")
def render_image(
    file: SpecFile = Path("llm.yaml"),
    out: Annotated[Path, typer.Option("-o", "--output", help="Directory to write.")] = Path(
        "image"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files llmctl did not write.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Write the build context of each vLLM version the spec uses to DIR/vllm-<version>/.

    Like `render -o`, it owns only what it wrote (marker DIR/.llmctl-render): a Dockerfile of
    your own in the way needs --force."""
    from llmctl.cli.commands_spec import say_removed
    from llmctl.image import image_tag
    from llmctl.render.writer import write_render_dir

    name, contexts = _contexts(file)
    files = {f"vllm-{v}/{rel}": data for v, ctx in contexts.items() for rel, data in ctx.items()}
    written = write_render_dir(out, files, force=force, owner=name)
    for rel in written:
        (out / rel).chmod(0o644)  # the image copies modes: keep the code world-readable only
    result = [
        {"vllm_version": v, "directory": str(out / f"vllm-{v}"), "tag": image_tag(ctx)}
        for v, ctx in contexts.items()
    ]
    if json:
        output.print_json({"contexts": result, "removed": list(written.removed)})
        return
    say_removed(out, written)
    for r in result:
        output.console().print(f"{r['directory']}: tag {r['tag']}", markup=False)


@image_app.command("build")
def build(
    file: SpecFile = Path("llm.yaml"),
    repository: Annotated[
        str, typer.Option(help="Image repository, e.g. an ECR URL.")
    ] = DEFAULT_IMAGE_REPOSITORY,
    push: Annotated[bool, typer.Option("--push", help="Push after building.")] = False,
    json: JsonFlag = False,
) -> None:
    """Build (and push) the serving image with docker buildx or buildah."""
    import tempfile

    from llmctl.image import build_image, image_tag, write_image_context

    built = []
    for version, files in _contexts(file)[1].items():
        ref = f"{repository}:{image_tag(files)}"
        with tempfile.TemporaryDirectory(prefix="llmctl-image-") as tmp:
            write_image_context(files, tmp)
            build_image(tmp, ref, push=push)
        built.append({"vllm_version": version, "ref": ref, "pushed": push})
    if json:
        output.print_json({"images": built})
        return
    for b in built:
        output.console().print(f"built {b['ref']}{' (pushed)' if push else ''}", markup=False)
