"""`llmctl history`, `llmctl rollback` and `llmctl rollout ...` through the real entry point.

The engine boundary (`llmctl.engine.lifecycle`) is a stand-in module that records what it is
asked to apply; everything above it, the renderer included, is the real code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl.errors import Interrupted
from llmctl.releases.backend import open_backend
from llmctl.releases.lock import StateLock
from llmctl.releases.revisions import RevisionStore
from llmctl.rollout import record
from tests.releases.fixtures import REV_B, SPEC_TEXT, deployment, model, release_of

from .conftest import NAME, POOL, RecordingStepApplier, change_for


@pytest.fixture
def state(tmp_path: Path) -> str:
    return f"file://{tmp_path}/state"


@pytest.fixture
def engine_standin(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Stand-in for the engine's StackRunner: records every release (and rollout overlay) the
    commands hand it, and reports one plain and one secret output."""
    calls: list[tuple] = []

    class Run:
        def record(self) -> dict:
            return {"gateway_endpoint": "10.0.0.7", "api_keys": {"value": "sk-x", "secret": True}}

    class Runner:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def apply(self, release, last, overlay=None, **kwargs):
            calls.append((release, overlay))
            return Run()

    monkeypatch.setattr("llmctl.engine.runner.StackRunner", Runner)
    return calls


def three_revisions(state: str) -> RevisionStore:
    """1 applied, 2 applied (revision bump), 3 rolled back (a longer context)."""
    store = RevisionStore(open_backend(state), NAME)
    store.record("applied", release_of(deployment(), {"llama-8b": "v1"}), SPEC_TEXT, {})
    store.record("applied", release_of(deployment(models=(model(revision=REV_B),))), SPEC_TEXT, {})
    store.record(
        "rolled-back",
        release_of(deployment(models=(model(revision=REV_B, max_model_len=16384),))),
        SPEC_TEXT,
        {},
        message="canary failed",
    )
    return store


def test_history_json_newest_first_with_what_changed(cli, state):
    three_revisions(state)

    code, out, err = cli("history", "--name", NAME, "--state", state, "--json")

    assert code == 0, err
    data = json.loads(out)
    assert data["deployment"] == NAME
    revisions = data["revisions"]
    assert [(r["number"], r["outcome"]) for r in revisions] == [
        (3, "rolled-back"),
        (2, "applied"),
        (1, "applied"),
    ]
    assert any(c.startswith("~ model llama-8b: revision ") for c in revisions[1]["changes"])
    assert "~ model llama-8b: engine.max_model_len 8192 -> 16384" in revisions[0]["changes"]
    assert revisions[0]["message"] == "canary failed"
    assert any(c.startswith("+ model llama-8b") for c in revisions[2]["changes"])
    assert "spec_text" not in revisions[0] and "ir" not in revisions[0]


def test_history_from_the_spec_file_and_human_output(cli, tmp_path, state):
    three_revisions(state)
    spec = tmp_path / "llm.yaml"
    spec.write_text(SPEC_TEXT + f"state: {state}\n")

    code, out, _ = cli("history", "-f", str(spec), "-n", "2")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3][0] == "3" and "rolled-back" in lines[0]
    assert "      canary failed" in lines
    assert not any(line.strip().startswith("1 ") for line in lines)  # --limit 2


def test_rollback_to_n_restores_its_ir_through_the_engine(cli, state, engine_standin):
    store = three_revisions(state)

    code, out, err = cli(
        "rollback", "--to", "1", "--yes", "--name", NAME, "--state", state, "--json"
    )

    assert code == 0, err
    ((release, overlay),) = engine_standin
    assert release == store.get(1).release and overlay is None  # the IR and the images it ran
    assert release.images == {"llama-8b": "registry.local/vllm:v1"}
    data = json.loads(out)
    assert data["restored_from"] == 1 and data["revision"]["number"] == 4
    latest = store.get(4)
    assert latest.outcome == "applied" and latest.restored_from == 1 and latest.spec_text is None
    assert latest.outputs == {"gateway_endpoint": "10.0.0.7"}  # the secret output is dropped
    assert "~ model llama-8b: revision " in " ".join(data["changes"])


def test_rollback_default_target_is_the_previous_good_revision(cli, state, engine_standin):
    three_revisions(state)
    code, out, _ = cli("rollback", "--yes", "--name", NAME, "--state", state)
    assert code == 0
    assert "roll back to revision 1 (now revision 2)" in out
    assert "revision 4: restored revision 1" in out


def test_rollback_needs_yes_without_a_terminal(cli, state):
    three_revisions(state)
    code, _, err = cli("rollback", "--to", "1", "--name", NAME, "--state", state)
    assert code == 1 and "pass --yes" in err


def interrupted_rollout(state: str, make_driver, interrupt_at: int = 2) -> None:
    with pytest.raises(Interrupted):
        make_driver(open_backend(state), RecordingStepApplier(interrupt_at=interrupt_at)).start(
            change_for("chat-ok", replicas=4)
        )


@pytest.mark.prometheus
def test_rollout_status_json_shows_where_it_stopped(cli, state, make_driver):
    interrupted_rollout(state, make_driver)

    code, out, err = cli("rollout", "status", "--name", NAME, "--state", state, "--json")

    assert code == 0, err
    data = json.loads(out)
    assert data["deployment"] == NAME and data["lock"] is None
    (entry,) = data["rollouts"]
    assert entry["model"] == "chat-ok" and entry["status"] == "interrupted"
    assert entry["where"] == "step 2/3 (50% canary)" and entry["step_index"] == 1
    assert entry["weights"] == {"canary": 50, "stable": 50} and entry["engine"] == "applying"
    assert entry["last_analysis"]["verdict"] == "pass"  # step 1's
    assert not {"old_ir", "new_ir", "spec_text"} & set(entry)
    code, out, _ = cli("rollout", "status", "--name", NAME, "--state", state)
    assert "chat-ok  canary  interrupted  step 2/3 (50% canary)" in out
    assert "`llmctl rollout resume --model chat-ok` continues" in out


@pytest.mark.prometheus
def test_rollout_promote_renders_canary_and_bounded_stable(cli, state, make_driver, engine_standin):
    interrupted_rollout(state, make_driver)

    code, out, err = cli("rollout", "promote", "--name", NAME, "--state", state, "--json")

    assert code == 0, err
    assert json.loads(out)["rollout"]["status"] == "promoted"
    (base, step), (final_base, final) = engine_standin
    assert step.weights == {"chat-ok": 50} and final.weights == {} and final.objects == {}
    new = base.deployment.models[0]
    assert new.identity() == final_base.deployment.models[0].identity()
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in step.objects["dc1"]}
    canary = by_name[("Deployment", "chat-ok-a100-canary")]
    assert canary["spec"]["replicas"] == 2
    stable = by_name[("Deployment", "chat-ok-a100")]
    assert stable["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 4, "maxUnavailable": 0}
    new_identity = record.load(open_backend(state), NAME, "chat-ok")["new_identity"]
    assert stable["spec"]["template"]["metadata"]["labels"]["llmctl.dev/identity"] == new_identity
    assert POOL == "dc1/a100"


@pytest.mark.prometheus
def test_rollout_abort_and_the_exit_code_of_a_finished_rollback(
    cli, state, make_driver, engine_standin
):
    interrupted_rollout(state, make_driver)
    backend = open_backend(state)
    # A rollback whose engine update was cut short: resuming finishes it, and exits 4.
    entry = record.load(backend, NAME, "chat-ok")
    record.save(backend, NAME, {**entry, "phase": "rollback", "failure": "the canary failed"})

    code, _, err = cli("rollout", "resume", "--name", NAME, "--state", state)

    assert code == 4
    assert "the canary failed. Rolled back: all traffic of chat-ok is on the stable" in err
    ((base, step),) = engine_standin
    assert step.objects == {} and step.weights == {}
    assert record.load(backend, NAME, "chat-ok")["status"] == "rolled-back"
    code, _, err = cli("rollout", "abort", "--name", NAME, "--state", state)
    assert code == 1 and "is over (rolled-back)" in err


@pytest.mark.prometheus
def test_rollout_resume_while_locked_exits_5_and_pause_is_handed_over(cli, state, make_driver):
    interrupted_rollout(state, make_driver)
    backend = open_backend(state)
    record.save(backend, NAME, {**record.load(backend, NAME, "chat-ok"), "status": "running"})

    with StateLock(backend, NAME, "apply"):
        code, _, err = cli("rollout", "resume", "--name", NAME, "--state", state)
        assert code == 5 and "is locked by" in err
        code, out, _ = cli("rollout", "pause", "--name", NAME, "--state", state, "--json")
        assert code == 0 and json.loads(out)["requested"] is True

    assert record.take_request(backend, NAME, "chat-ok") == "pause"
