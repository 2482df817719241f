"""A relative `state: file://...` resolves against the spec file's directory (issue 14, item 7),
not the directory the command runs in, so one spec never splits its state by where it is run."""

from __future__ import annotations

import pytest

from llmctl.compile import compile_file
from tests.spec.test_loader import BASE


@pytest.mark.parametrize("written", ["file://./state", "file://state", "file://sub/../state"])
def test_relative_file_state_is_the_spec_directory_s(tmp_path, monkeypatch, written):
    project = tmp_path / "repo" / "deploy"
    project.mkdir(parents=True)
    (project / "llm.yaml").write_text(BASE.replace("name: t\n", f"name: t\nstate: {written}\n"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    state = compile_file("../repo/deploy/llm.yaml").deployment.state
    assert state == f"file://{project / 'state'}"
    monkeypatch.chdir(project)
    assert compile_file("llm.yaml").deployment.state == state


@pytest.mark.parametrize(
    "written", ["file:///srv/llmctl/state", "file://~/.llmctl/state", "s3://bucket/prefix?region=x"]
)
def test_absolute_home_and_s3_states_are_kept_as_written(tmp_path, written):
    (tmp_path / "llm.yaml").write_text(BASE.replace("name: t\n", f"name: t\nstate: {written}\n"))
    assert compile_file(tmp_path / "llm.yaml").deployment.state == written


def test_history_reads_the_same_state_from_any_directory(cli, tmp_path, monkeypatch):
    project = tmp_path / "deploy"
    project.mkdir()
    spec = project / "llm.yaml"
    spec.write_text(BASE.replace("name: t\n", "name: t\nstate: file://./state\n"))
    from llmctl.engine.backend import open_state

    state = open_state(compile_file(spec).deployment)
    assert state.url == (project / "state").as_uri()
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("history", "-f", str(spec), "--json")
    assert code == 0, err
    assert not (tmp_path / "state").exists()
