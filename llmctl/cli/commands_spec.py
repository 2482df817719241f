"""Commands over the spec alone: validate, render, init, schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from llmctl.cli import output
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY, IMAGE_REPOSITORY_ENV

SpecFile = Annotated[Path, typer.Option("-f", "--file", help="The spec file.", show_default=True)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def register(app: typer.Typer) -> None:
    """Add the spec commands to the root app."""
    app.command()(validate)
    app.command()(render)
    app.command()(init)
    app.command()(schema)


def validate(file: SpecFile = Path("llm.yaml"), json: JsonFlag = False) -> None:
    """Check llm.yaml: syntax, types, references, GPU fit and capacity. Exit 0 valid, 1 invalid."""
    import os

    from llmctl.compile import compile_file
    from llmctl.errors import SpecInvalid
    from llmctl.render.image_builds import build_diagnostics

    try:
        compiled = compile_file(file)
    except SpecInvalid as exc:
        if json:
            output.print_json(
                {
                    "valid": False,
                    "errors": [d.to_json() for d in exc.diagnostics],
                    "warnings": [d.to_json() for d in exc.warnings],
                }
            )
            raise typer.Exit(1) from None
        raise
    d = compiled.deployment
    repository = os.environ.get(IMAGE_REPOSITORY_ENV) or DEFAULT_IMAGE_REPOSITORY
    warnings = compiled.warnings + build_diagnostics(compiled, repository)
    if json:
        output.print_json(
            {"valid": True, "errors": [], "warnings": [w.to_json() for w in warnings]}
        )
        return
    pools = sum(len(c.pools) for c in d.clusters)
    con = output.console()
    con.print(
        f"{file}: valid ({_n(len(d.clusters), 'cluster')}, {_n(pools, 'pool')}, "
        f"{_n(len(d.models), 'model')})",
        style="green",
        markup=False,
    )
    output.print_diagnostics(warnings, compiled.source.text)


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render(
    file: SpecFile = Path("llm.yaml"),
    out: Annotated[Path, typer.Option("-o", "--output", help="Directory to write.")] = Path(
        "rendered"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory llmctl does not own.")
    ] = False,
    image_repository: Annotated[
        str, typer.Option(help="Image repository for the serving image.")
    ] = DEFAULT_IMAGE_REPOSITORY,
    json: JsonFlag = False,
) -> None:
    """Write the Kubernetes objects (DIR/<cluster>/*.yaml) and the image build context (DIR/image/)."""
    from llmctl.compile import compile_file
    from llmctl.image import render_image_context
    from llmctl.release import make_release
    from llmctl.render.writer import render_all, write_render_dir

    compiled = compile_file(file)
    files: dict[str, str | bytes] = dict(
        render_all(make_release(compiled.deployment, image_repository))
    )
    for version in sorted({m.engine.vllm_version for m in compiled.deployment.models}):
        for rel, content in render_image_context(version).items():
            files[f"image/vllm-{version}/{rel}"] = content
    written = write_render_dir(out, files, force=force, owner=compiled.deployment.name)
    if json:
        output.print_json(
            {
                "output": str(out),
                "files": sorted(written),
                "removed": list(written.removed),
                "kept": list(written.kept),
            }
        )
        return
    output.print_diagnostics(compiled.warnings, compiled.source.text)
    say_removed(out, written)
    output.console().print(f"wrote {len(written)} files to {out}/", markup=False)


def say_removed(out: Path, result: Any) -> None:
    """The files a render removed, and those it left because they changed since it wrote them."""
    con = output.console()
    for rel in result.removed:
        con.print(f"removed {out / rel} (no longer rendered)", markup=False)
    for rel in result.kept:
        con.print(
            f"left {out / rel}: no longer rendered, but changed since llmctl wrote it",
            markup=False,
        )


_TARGETS = ("kubernetes", "aws", "hybrid")
SCHEMA_FILE = "llm.schema.json"


def init(
    target: Annotated[str, typer.Option(help="kubernetes | aws | hybrid")] = "kubernetes",
    file: SpecFile = Path("llm.yaml"),
) -> None:
    """Write a commented llm.yaml that validates. Never overwrites an existing file."""
    from llmctl.errors import LlmctlError
    from llmctl.resources import init_template
    from llmctl.spec.model import json_schema

    if target not in _TARGETS:
        from llmctl.catalog import did_you_mean

        raise LlmctlError(
            f"unknown target '{target}'",
            hint=did_you_mean(target, _TARGETS, f"choose one of: {', '.join(_TARGETS)}"),
        )
    if file.exists():
        raise LlmctlError(
            f"{file} already exists; not overwriting it",
            hint="pass -f NEW.yaml, or remove the file",
        )
    # The editor's schema is a file beside the spec, named relatively: the line works in every
    # clone once both are committed (an absolute site-packages path would not).
    schema_file = file.parent / SCHEMA_FILE
    text = init_template(target).replace("@SCHEMA@", SCHEMA_FILE)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "x", encoding="utf-8") as fh:
        fh.write(text)
    wrote = f"wrote {file} ({target})"
    if not schema_file.exists():
        schema_file.write_text(output.json_text(json_schema()), encoding="utf-8")
        wrote += f" and {schema_file} (its schema, for editors; commit both)"
    output.print_fitted(output.console(), f"{wrote}; next: `llmctl validate -f {file}`")


def schema(
    print_path: Annotated[
        bool, typer.Option("--print-path", help="Print the bundled schema file's path.")
    ] = False,
) -> None:
    """Print the JSON Schema of llm.yaml (for editors: yaml-language-server)."""
    from llmctl.resources import schema_path
    from llmctl.spec.model import json_schema

    if print_path:
        typer.echo(str(schema_path()))
        return
    output.print_json(json_schema())
