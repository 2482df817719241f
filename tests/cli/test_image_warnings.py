"""Plan and validate say when a model would run an image that someone must build, with the exact
commands, following the Release's choice of image (issue 10, point 13)."""

from __future__ import annotations

import json

import pytest

import llmctl.release as release_module


@pytest.fixture
def spec(tmp_path, cli):
    path = tmp_path / "llm.yaml"
    assert cli("init", "-f", str(path))[0] == 0
    return path


@pytest.fixture
def render_builds(monkeypatch):
    """The Release decides on llmctl's own image (REPOSITORY:TAG) for every model."""
    monkeypatch.setattr(
        release_module, "image_ref", lambda m, repo, tags: f"{repo}:{tags[m.engine.vllm_version]}"
    )


@pytest.fixture
def render_upstream(monkeypatch):
    """The Release decides on the published vLLM image for every model."""
    monkeypatch.setattr(release_module, "image_ref", lambda m, repo, tags: m.engine.image)


def test_plan_warns_with_the_exact_commands(cli, spec, render_builds):
    code, out, err = cli("plan", "-f", str(spec))
    assert code == 0
    assert "model llama-8b would run llmctl/vllm:" in err and "an image nobody has built" in err
    assert f"    llmctl image build -f {spec} --repository REGISTRY/llmctl-vllm --push" in err
    assert f"    llmctl apply -f {spec} --image-repository REGISTRY/llmctl-vllm" in err
    code, out, _ = cli("plan", "-f", str(spec), "--json")
    assert any("image nobody has built" in w for w in json.loads(out)["warnings"])


def test_plan_with_a_repository_reminds_to_push(cli, spec, render_builds):
    code, _, err = cli("plan", "-f", str(spec), "--image-repository", "reg.example/vllm")
    assert code == 0 and "model llama-8b runs reg.example/vllm:" in err
    assert f"llmctl image build -f {spec} --repository reg.example/vllm --push" in err


def test_validate_warns_at_the_model(cli, spec, render_builds):
    code, out, _ = cli("validate", "-f", str(spec), "--json")
    (w,) = [w for w in json.loads(out)["warnings"] if "nobody has built" in w["message"]]
    assert code == 0 and w["path"] == "models[0].name" and w["line"] > 0
    assert "llmctl image build" in w["hint"] and "--image-repository" in w["hint"]


def test_nothing_to_build_no_warning(cli, spec, render_upstream):
    code, out, err = cli("plan", "-f", str(spec))
    assert code == 0 and "llmctl image build" not in out + err
    code, out, _ = cli("validate", "-f", str(spec), "--json")
    assert not [w for w in json.loads(out)["warnings"] if "image" in w["message"]]


def test_the_warning_follows_the_rendered_deployment(cli, spec, tmp_path):
    """No stand-in: the warning is there exactly when the rendered Deployment's image is not the
    published one."""
    code, _, _ = cli("render", "-f", str(spec), "-o", str(tmp_path / "out"))
    assert code == 0
    rendered = "".join(p.read_text() for p in (tmp_path / "out").rglob("*deployment*.yaml"))
    from llmctl.compile import compile_file

    upstream = compile_file(spec).deployment.models[0].engine.image
    code, _, err = cli("plan", "-f", str(spec))
    assert code == 0
    assert ("nobody has built" in err) == (f"image: {upstream}" not in rendered)
