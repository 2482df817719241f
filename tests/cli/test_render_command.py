"""`llmctl render`: Kubernetes objects per cluster plus the image build context, owned files only."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES, example


@pytest.mark.parametrize("name", EXAMPLES)
def test_render_every_example(cli, tmp_path, name):
    code, out, err = cli("render", "-f", str(example(name)), "-o", str(tmp_path), "--json")
    assert code == 0, err
    files = json.loads(out)["files"]
    assert any(f.startswith("image/vllm-") and f.endswith("/Dockerfile") for f in files)
    assert any("-deployment-" in f or "-leaderworkerset-" in f for f in files), (
        "one vLLM Deployment (LeaderWorkerSet when multi-node) per model x placement"
    )
    for f in files:
        assert (tmp_path / f).is_file()


def test_render_replaces_only_what_it_owns(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    out = tmp_path / "out"
    spec.write_text(example("hybrid").read_text())
    assert cli("render", "-f", str(spec), "-o", str(out))[0] == 0
    assert (out / "aws").is_dir()
    mine = out / "notes.txt"
    mine.write_text("keep me")
    # the same spec without its aws cluster: that cluster's files go, and it says so
    text = example("hybrid").read_text()
    spec.write_text(_without_cluster(text, "aws"))
    code, stdout, err = cli("render", "-f", str(spec), "-o", str(out))
    assert code == 0, err
    assert not (out / "aws").exists(), "files of the previous render that are gone are removed"
    assert "removed " in stdout and "/aws/" in stdout
    assert mine.read_text() == "keep me"


def _without_cluster(text: str, cluster: str) -> str:
    import yaml

    data = yaml.safe_load(text)
    data["clusters"] = [c for c in data["clusters"] if c["name"] != cluster]
    for m in data["models"]:
        m["placements"] = [p for p in m["placements"] if not p["pool"].startswith(cluster + "/")]
    return yaml.safe_dump(data, sort_keys=False)


def test_render_refuses_a_foreign_directory(cli, tmp_path):
    (tmp_path / "README").write_text("someone else's")
    code, _, err = cli("render", "-f", str(example("quickstart")), "-o", str(tmp_path))
    assert code == 1 and "--force" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README"]
    code, _, _ = cli("render", "-f", str(example("quickstart")), "-o", str(tmp_path), "--force")
    assert code == 0 and (tmp_path / "README").read_text() == "someone else's"


def test_render_of_an_invalid_spec_writes_nothing(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text("version: 1\nname: x\n")
    out = tmp_path / "out"
    code, _, _ = cli("render", "-f", str(spec), "-o", str(out))
    assert code == 1 and not out.exists()
