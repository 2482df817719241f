"""render_all and write_render_dir: determinism, golden files, and directory ownership."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from render_helpers import GOLDEN, SPECS, deployment_of, golden_release
from ruamel.yaml import YAML

from llmctl.errors import LlmctlError
from llmctl.render.cluster import render_cluster_objects
from llmctl.render.writer import MARKER, render_all, write_render_dir


def _render(name: str) -> dict[str, str]:
    return render_all(golden_release(deployment_of(name)))


def test_rendering_is_deterministic(spec_name: str) -> None:
    from llmctl.compile import compile_file

    first = _render(spec_name)
    again = render_all(golden_release(compile_file(SPECS[spec_name]).deployment))
    assert first == again
    assert all(text.endswith("\n") for text in first.values())


def test_yaml_round_trips_to_the_objects(spec_name: str) -> None:
    d = deployment_of(spec_name)
    files = _render(spec_name)
    yaml = YAML(typ="safe", pure=True)
    for cluster in d.clusters:
        objects = render_cluster_objects(d, cluster.name, golden_release(d).images)
        names = sorted(p for p in files if p.startswith(f"{cluster.name}/"))
        assert [yaml.load(files[p]) for p in names] == objects
        assert names[0] == f"{cluster.name}/01-namespace-{cluster.namespace}.yaml"


def test_golden_files(spec_name: str) -> None:
    files = _render(spec_name)
    golden = GOLDEN / spec_name
    if os.environ.get("LLMCTL_UPDATE_GOLDEN") == "1":
        write_render_dir(golden, files, force=True)
        (golden / MARKER).unlink()  # the marker carries the llmctl version: not a golden
    assert golden.is_dir(), f"no golden files for {spec_name}: run with LLMCTL_UPDATE_GOLDEN=1"
    on_disk = {str(p.relative_to(golden)): p.read_text() for p in golden.rglob("*.yaml")}
    assert sorted(on_disk) == sorted(files), "rendered files differ from the golden set"
    for rel, text in files.items():
        assert on_disk[rel] == text, f"{rel} differs from its golden file (LLMCTL_UPDATE_GOLDEN=1)"


def test_writer_owns_its_files_and_removes_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    files = _render("all-features")
    result = write_render_dir(out, files, force=False)
    assert set(result.written) == set(files) and result.removed == ()
    marker = json.loads((out / MARKER).read_text())
    assert marker["files"] == sorted(files)
    assert (out / "dc1" / "01-namespace-llm.yaml").read_text() == files["dc1/01-namespace-llm.yaml"]
    (out / "README.md").write_text("mine")  # a file llmctl did not write
    fewer = {k: v for k, v in files.items() if k.startswith("dc1/")}
    result = write_render_dir(out, fewer, force=False)
    assert set(result.removed) == {k for k in files if k.startswith("cloud/")}
    assert not (out / "cloud").exists()  # the emptied cluster directory goes too
    assert (out / "README.md").read_text() == "mine"
    assert json.loads((out / MARKER).read_text())["files"] == sorted(fewer)


def test_writer_refuses_a_foreign_directory_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    (out / "kustomization.yaml").write_text("resources: []\n")
    files = _render("quickstart")
    with pytest.raises(LlmctlError) as err:
        write_render_dir(out, files, force=False)
    assert "--force" in err.value.hint
    assert not (out / MARKER).exists()
    write_render_dir(out, files, force=True)
    assert (out / "kustomization.yaml").read_text() == "resources: []\n"  # never owned: kept
    assert json.loads((out / MARKER).read_text())["files"] == sorted(files)


def test_writer_will_not_overwrite_an_unowned_file_in_the_way(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    files = _render("quickstart")
    write_render_dir(out, {}, force=False)  # an empty, owned directory
    first = sorted(files)[0]
    (out / first).parent.mkdir(parents=True)
    (out / first).write_text("hand-written\n")
    with pytest.raises(LlmctlError):
        write_render_dir(out, files, force=False)
    assert (out / first).read_text() == "hand-written\n"
    write_render_dir(out, files, force=True)
    assert (out / first).read_text() == files[first]


def test_writer_rejects_a_corrupt_marker_and_escaping_paths(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    (out / MARKER).write_text("{not json")
    with pytest.raises(LlmctlError):
        write_render_dir(out, {"a/x.yaml": "x: 1\n"}, force=False)
    with pytest.raises(LlmctlError):
        write_render_dir(tmp_path / "other", {"../escape.yaml": "x: 1\n"}, force=False)
    assert not (tmp_path / "escape.yaml").exists()


def test_write_result_reads_as_the_written_files(tmp_path: Path) -> None:
    files = _render("quickstart")
    result = write_render_dir(tmp_path / "out", files, force=False)
    assert len(result) == len(files) and sorted(result) == sorted(files)
