"""render -o / image render -o own only what they wrote, per spec (issue 14, item 9): a second
spec in the same directory does not delete the first one's files, a file changed since (or a
marker that names a user's file) is never deleted, and image render does not overwrite a
Dockerfile it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl.errors import LlmctlError
from llmctl.render.writer import MARKER, write_render_dir
from tests.conftest import example

A = {"c1/01-namespace-a.yaml": "a: 1\n", "image/vllm-1/Dockerfile": "FROM x\n"}
B = {"c2/01-namespace-b.yaml": "b: 1\n", "image/vllm-1/Dockerfile": "FROM x\n"}


def test_a_second_spec_in_the_same_directory_keeps_the_first_ones_files(tmp_path: Path):
    write_render_dir(tmp_path, A, force=False, owner="a")
    result = write_render_dir(tmp_path, B, force=False, owner="b")
    assert result.removed == ()
    assert (tmp_path / "c1/01-namespace-a.yaml").read_text() == "a: 1\n"
    marker = json.loads((tmp_path / MARKER).read_text())
    assert set(marker["owners"]) == {"a", "b"}
    # a drops its shared image file: b still owns it, so it stays
    result = write_render_dir(tmp_path, {"c1/01-namespace-a.yaml": "a: 1\n"}, False, owner="a")
    assert result.removed == () and (tmp_path / "image/vllm-1/Dockerfile").exists()
    # a drops everything: only its own file goes
    result = write_render_dir(tmp_path, {}, force=False, owner="a")
    assert result.removed == ("c1/01-namespace-a.yaml",)
    assert (tmp_path / "c2/01-namespace-b.yaml").exists()


def test_another_specs_file_with_other_content_is_not_overwritten(tmp_path: Path):
    write_render_dir(tmp_path, A, force=False, owner="a")
    clash = {"c1/01-namespace-a.yaml": "b wants this\n"}
    with pytest.raises(LlmctlError) as info:
        write_render_dir(tmp_path, clash, force=False, owner="b")
    assert "render of a" in info.value.message and "--force" in info.value.hint
    assert (tmp_path / "c1/01-namespace-a.yaml").read_text() == "a: 1\n"


def test_a_file_changed_since_it_was_written_is_left_and_reported(tmp_path: Path):
    write_render_dir(tmp_path, A, force=False, owner="a")
    edited = tmp_path / "c1/01-namespace-a.yaml"
    edited.write_text("a: 1\n# hand edit\n")
    result = write_render_dir(tmp_path, {}, force=False, owner="a")
    assert result.kept == ("c1/01-namespace-a.yaml",) and edited.exists()
    assert result.removed == ("image/vllm-1/Dockerfile",)


@pytest.mark.parametrize("recorded", [None, "0" * 64])
def test_a_tampered_marker_never_deletes_a_users_file(tmp_path: Path, recorded):
    write_render_dir(tmp_path, A, force=False, owner="a")
    users = tmp_path / "c1" / "kustomization.yaml"
    users.write_text("resources: []\n")
    marker = json.loads((tmp_path / MARKER).read_text())
    marker["owners"]["a"]["c1/kustomization.yaml"] = recorded
    (tmp_path / MARKER).write_text(json.dumps(marker))
    write_render_dir(tmp_path, A, force=False, owner="a")
    assert users.read_text() == "resources: []\n"


def test_a_marker_of_an_earlier_llmctl_is_taken_over_without_deleting(tmp_path: Path):
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1/01-namespace-a.yaml").write_text("old\n")
    (tmp_path / "c1/02-old.yaml").write_text("old\n")
    files = ["c1/01-namespace-a.yaml", "c1/02-old.yaml"]
    (tmp_path / MARKER).write_text(json.dumps({"llmctl_version": "0.0", "files": files}))
    result = write_render_dir(tmp_path, {"c1/01-namespace-a.yaml": "new\n"}, False, owner="a")
    assert result.removed == () and (tmp_path / "c1/02-old.yaml").exists()
    assert (tmp_path / "c1/01-namespace-a.yaml").read_text() == "new\n"


def test_render_of_two_examples_into_one_directory(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("render", "-f", str(example("hybrid")), "-o", str(out))[0] == 0
    hybrid = sorted(p.relative_to(out) for p in out.rglob("*.yaml"))
    code, stdout, err = cli("render", "-f", str(example("quickstart")), "-o", str(out))
    assert code == 0, err
    assert "removed" not in stdout
    assert all((out / rel).exists() for rel in hybrid)


def test_image_render_does_not_overwrite_a_users_dockerfile(cli, tmp_path):
    spec = example("quickstart")
    code, out, err = cli("image", "render", "-f", str(spec), "-o", str(tmp_path), "--json")
    assert code == 0, err
    [context] = json.loads(out)["contexts"]
    dockerfile = Path(context["directory"]) / "Dockerfile"
    other = tmp_path / "other"
    (other / dockerfile.parent.name).mkdir(parents=True)
    mine = other / dockerfile.parent.name / "Dockerfile"
    mine.write_text("FROM my-own-base\n")
    code, _, err = cli("image", "render", "-f", str(spec), "-o", str(other))
    assert code == 1 and "--force" in err
    assert mine.read_text() == "FROM my-own-base\n"
    code, _, err = cli("image", "render", "-f", str(spec), "-o", str(other), "--force")
    assert code == 0, err
    assert mine.read_text() == dockerfile.read_text()
