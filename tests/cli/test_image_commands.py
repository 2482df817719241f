"""`llmctl image render|build` through the real entry point."""

from __future__ import annotations

import json

from tests.conftest import example


def test_image_render_writes_one_context_per_vllm_version(cli, tmp_path):
    code, out, err = cli("image", "render", "-f", str(example("quickstart")), "-o", str(tmp_path), "--json")
    assert code == 0, err
    [ctx] = json.loads(out)["contexts"]
    assert ctx["vllm_version"] == "0.33.0" and ctx["tag"].startswith("llmctl-vllm0.33.0-")
    dockerfile = (tmp_path / "vllm-0.33.0" / "Dockerfile").read_text()
    assert dockerfile.startswith("# syntax") or "FROM vllm/vllm-openai:v0.33.0" in dockerfile
    # same spec, same image name
    code, out2, _ = cli("image", "render", "-f", str(example("quickstart")), "-o", str(tmp_path / "again"), "--json")
    assert json.loads(out2)["contexts"][0]["tag"] == ctx["tag"]


def test_image_build_without_a_builder_says_what_to_install(cli, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = cli("image", "build", "-f", str(example("quickstart")))
    assert code == 1
    assert "buildx" in err and "buildah" in err and "Traceback" not in err
