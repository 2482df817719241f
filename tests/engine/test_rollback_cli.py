"""`llmctl apply` twice, then `llmctl rollback` and `llmctl history`, through the real entry
point; only the Pulumi CLI is stood in."""

from __future__ import annotations

import json
import os

from llmctl.releases.backend import open_backend
from llmctl.releases.revisions import RevisionStore

REV_A = "0e9e39f249a16976918f6564b8830bc894c89659"
REV_B = "5206a32e0bd3067aef1ce90f5528ade7d866253f"

SPEC = """\
version: 1
name: rb
clusters:
  - name: dc1
    kubernetes: {context: dc1}
    pools:
      - name: l40s
        gpu: {model: L40S, per_node: 4}
        nodes: 2
models:
  - name: llama
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: REV
    placements: [{pool: dc1/l40s, replicas: 2}]
    rollout: {strategy: rolling}
"""


def ups(standin) -> int:
    return sum(1 for call in standin.calls if call[0] == "up")


def test_rollback_restores_the_previous_revision_without_the_spec(cli, standin_cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(SPEC.replace("REV", REV_A))
    code, out, err = cli("apply", "-f", str(spec), "--yes", "--json")
    assert code == 0, err
    spec.write_text(SPEC.replace("REV", REV_B))
    code, out, err = cli("apply", "-f", str(spec), "--yes", "--json")
    assert code == 0, err
    assert "rollout llama" in err  # the rolling update went through the rollout driver

    spec.unlink()  # a rollback needs no spec file
    before = ups(standin_cli)
    code, out, err = cli("rollback", "--name", "rb", "--yes", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert ups(standin_cli) == before + 1  # one stack update re-applied the stored IR
    restored = result["restored_from"]
    code, out, _ = cli("history", "--name", "rb", "--json")
    history = json.loads(out)["revisions"]
    newest = history[0]
    assert newest["restored_from"] == restored and newest["outcome"] == "applied"
    by_number = {r["number"]: r for r in history}
    assert by_number[restored]["outcome"] == "applied"
    store = RevisionStore(open_backend(f"file://{os.environ['LLMCTL_HOME']}/state"), "rb")
    assert json.loads(store.get(newest["number"]).ir)["models"][0]["revision"] == REV_A


def test_rollback_deploys_the_image_repository_its_revision_used(cli, standin_cli, tmp_path):
    """Issue 14, defect 2: apply --image-repository R, then rollback: R, not the default."""
    from llmctl.engine.runner import StackRun
    from llmctl.rollout.control import restore_revision

    repo = "registry.corp.example/ml/vllm"
    spec = tmp_path / "llm.yaml"
    bundled = SPEC.replace("    rollout:", "    engine: {image: bundled}\n    rollout:")
    spec.write_text(bundled.replace("REV", REV_A))
    code, _, err = cli("apply", "-f", str(spec), "--yes", "--image-repository", repo)
    assert code == 0, err
    backend = open_backend(f"file://{os.environ['LLMCTL_HOME']}/state")
    store = RevisionStore(backend, "rb")
    first = store.latest("applied")
    assert first is not None and first.image_repository == repo
    seen = []

    class Runner:  # records what the engine is handed
        def apply(self, release, last, overlay=None):
            seen.append(release)
            return StackRun()

    restored = restore_revision(backend, "rb", first, Runner())
    (release,) = seen
    assert release == first.release and release.image_repository == repo
    assert all(image.startswith(f"{repo}:") for image in release.images.values())
    assert restored.image_repository == repo and restored.restored_from == first.number
