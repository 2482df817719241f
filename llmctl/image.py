"""The serving image: render its build context, name it by content, and build it.

The image is the pinned upstream `vllm/vllm-openai` image plus the llmctl launcher
(`llmctl_serving`, copied from llmctl/serving/). Rendering is pure; building needs a real
builder (`docker buildx` or `buildah`) and raises EngineMissing when there is none.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llmctl import __version__
from llmctl.errors import EngineError, EngineMissing, LlmctlError
from llmctl.serving import flags

# Files of llmctl/serving/ that go into the image; config.py imports the IR and stays out.
IMAGE_PACKAGE = "llmctl_serving"
_PACKAGE_FILES = ("__init__.py", "flags.py", "launcher.py", "room.py", "vllm_versions.py")

IMAGE_UID = 10001  # above 10000: cannot collide with an account of the host (CKV_K8S_40)
IMAGE_GID = 10001
IMAGE_HOME = "/home/llmctl"
CACHE_DIR = "/models"
PORT = 8000

_DOCKERIGNORE = f"""\
# Only the Dockerfile and the launcher package belong in the build context.
*
!Dockerfile
!{IMAGE_PACKAGE}
**/__pycache__
"""
_VERSION_LABEL = re.compile(r'^\s*ai\.llmctl\.vllm-version="([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class BuildResult:
    """What `build_image` ran: the builder, its command line, and the image reference."""

    builder: str
    commands: tuple[tuple[str, ...], ...]
    ref: str
    pushed: bool


def _template_text(name: str) -> str:
    # Installed: the llmctl.templates package (pyproject maps templates/ there). From a
    # checkout without an install: the repo's templates/ directory.
    try:
        return resources.files("llmctl.templates").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        path = Path(__file__).resolve().parents[1] / "templates" / name
        return path.read_text(encoding="utf-8")


def render_dockerfile(vllm_version: str) -> str:
    """The serving image's Dockerfile for a pinned vLLM version."""
    import jinja2  # only rendering needs it; `llmctl --help` must not import it

    table = flags.flags_for(vllm_version)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    template = env.from_string(_template_text("image/Dockerfile.j2"))
    return template.render(
        vllm_version=table.version,
        base_image=flags.base_image(table.version),
        llmctl_version=__version__,
        uid=IMAGE_UID,
        gid=IMAGE_GID,
        home=IMAGE_HOME,
        cache_dir=CACHE_DIR,
        port=PORT,
    )


def render_image_context(vllm_version: str) -> dict[str, bytes]:
    """The build context as {relative path: content}: Dockerfile, .dockerignore, launcher."""
    try:
        dockerfile = render_dockerfile(vllm_version)
    except ValueError as exc:
        raise LlmctlError(
            str(exc), hint="set engine.vllm_version to one of the supported versions"
        ) from None
    files: dict[str, bytes] = {
        "Dockerfile": dockerfile.encode(),
        ".dockerignore": _DOCKERIGNORE.encode(),
    }
    source_dir = Path(flags.__file__).resolve().parent
    for name in _PACKAGE_FILES:
        files[f"{IMAGE_PACKAGE}/{name}"] = (source_dir / name).read_bytes()
    return files


def image_tag(files: Mapping[str, bytes]) -> str:
    """A content-addressed tag, e.g. llmctl-vllm0.11.0-1a2b3c4d5e6f: same context, same tag."""
    dockerfile = files.get("Dockerfile")
    match = _VERSION_LABEL.search(dockerfile.decode()) if dockerfile else None
    if match is None:
        raise ValueError("build context has no Dockerfile with an ai.llmctl.vllm-version label")
    digest = hashlib.sha256()
    for path in sorted(files):
        # Length-prefixed, so no two different contexts hash the same byte stream.
        for part in (path.encode(), files[path]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return f"llmctl-vllm{match.group(1)}-{digest.hexdigest()[:12]}"


def write_image_context(files: Mapping[str, bytes], directory: str | Path) -> Path:
    """Write the context under `directory` (created if needed); returns the directory."""
    root = Path(directory)
    for rel, content in sorted(files.items()):
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:
            raise ValueError(f"build context path escapes the directory: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o644)  # the image copies modes: keep the code world-readable only
    return root


def _check_ref(ref: str) -> None:
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag or "@" in ref:
        raise LlmctlError(
            f"image reference {ref!r} has no tag",
            hint="use REGISTRY/REPO:TAG, e.g. with the tag from image_tag()",
        )
    if tag == "latest":
        raise LlmctlError(
            f"image reference {ref!r} uses the tag 'latest'",
            hint="tag serving images by content (image_tag()) so a rollback gets the same bits",
        )


def _has_buildx() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "buildx", "version"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def build_commands(
    builder: str, context_dir: Path, ref: str, push: bool, build_args: Mapping[str, str]
) -> list[list[str]]:
    """The command lines `build_image` runs with `builder` ("docker-buildx" or "buildah")."""
    arg_flags = [x for k, v in sorted(build_args.items()) for x in ("--build-arg", f"{k}={v}")]
    dockerfile = str(context_dir / "Dockerfile")
    if builder == "docker-buildx":
        return [
            [
                "docker",
                "buildx",
                "build",
                "--file",
                dockerfile,
                "--tag",
                ref,
                *arg_flags,
                "--push" if push else "--load",
                str(context_dir),
            ]
        ]
    if builder == "buildah":
        commands = [
            ["buildah", "bud", "--file", dockerfile, "--tag", ref, *arg_flags, str(context_dir)]
        ]
        if push:
            commands.append(["buildah", "push", ref])
        return commands
    raise ValueError(f"unknown builder {builder!r}")


def build_image(
    context_dir: str | Path,
    ref: str,
    push: bool,
    build_args: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build the image in `context_dir` as `ref` (and push it) with docker buildx or buildah."""
    _check_ref(ref)
    context = Path(context_dir)
    if not (context / "Dockerfile").is_file():
        raise LlmctlError(
            f"no Dockerfile in {context}", hint="write the context with write_image_context()"
        )
    if _has_buildx():
        builder = "docker-buildx"
    elif shutil.which("buildah") is not None:
        builder = "buildah"
    else:
        docker_note = (
            "docker is on PATH but its buildx plugin is missing"
            if shutil.which("docker")
            else "neither docker nor buildah is on PATH"
        )
        raise EngineMissing(
            f"building the serving image needs docker with buildx, or buildah: {docker_note}",
            hint="install Docker Engine with the docker-buildx-plugin package, or buildah "
            "(`apt-get install buildah`); or build by hand as docs/image.md shows",
        )
    commands = build_commands(builder, context, ref, push, build_args or {})
    for command in commands:
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            raise EngineError(
                f"{' '.join(command[:3])} failed with exit code {done.returncode}",
                hint="the builder's output above says why",
            )
    return BuildResult(builder, tuple(tuple(c) for c in commands), ref, push)
