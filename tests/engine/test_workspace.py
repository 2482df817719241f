"""The Automation API boundary: llmctl.engine.workspace over Pulumi's real automation code, with a
stand-in only for the Pulumi CLI process (StandinPulumiCommand.run)."""

from __future__ import annotations

import pytest
import yaml as pyyaml

from llmctl.engine import workspace
from llmctl.engine.workspace import EngineConfig, Progress
from llmctl.errors import EngineError, EngineMissing, ExitCode, Interrupted, StateLocked
from tests.engine.standin_pulumi import StandinPulumiCommand

NS = ("kubernetes:core/v1:Namespace", "namespace-llm")
DEPLOY = ("kubernetes:apps/v1:Deployment", "deployment-llm-qwen-7b-l4")


def _config(tmp_path, standin) -> EngineConfig:
    return EngineConfig(
        backend_url=f"file://{tmp_path}/state",
        env={"PULUMI_CONFIG_PASSPHRASE": "pass-for-test-only"},
        work_dir=tmp_path / "work",
        command=standin,
    )


def _program() -> None:
    raise AssertionError("the stand-in never runs the program")


@pytest.fixture(params=["3.272.0", "3.150.0"], ids=["grpc-events", "file-events"])
def any_cli(request) -> StandinPulumiCommand:
    """The stand-in as a CLI newer than 3.205 (events over gRPC) and as an older one (a file)."""
    return StandinPulumiCommand(version=request.param)


def test_open_stack_creates_it_with_the_backend_and_passphrase(tmp_path, standin):
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    assert stack.name == "demo-lab"
    # create_or_select: select fails with Pulumi's own "no stack named" error, then init
    assert standin.calls[:2] == [
        ["stack", "select", "--stack", "demo-lab"],
        ["stack", "init", "demo-lab"],
    ]
    settings = pyyaml.safe_load((tmp_path / "work" / "Pulumi.yaml").read_text())
    assert settings["name"] == "llmctl"
    assert settings["backend"]["url"] == f"file://{tmp_path}/state"
    assert all(env["PULUMI_CONFIG_PASSPHRASE"] == "pass-for-test-only" for env in standin.envs)
    assert standin.cwds == [str(tmp_path / "work")] * 2


def test_select_only_returns_none_for_a_missing_stack(tmp_path, standin):
    assert workspace.open_stack("gone", _program, _config(tmp_path, standin), create=False) is None
    assert ["stack", "init", "gone"] not in standin.calls


def test_preview_parses_steps_and_forwards_events(tmp_path, any_cli):
    any_cli.desired["demo-lab"] = [NS, DEPLOY]
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, any_cli))
    seen: list[Progress] = []
    changes = workspace.preview(stack, seen.append)
    assert [(c.type, c.name, c.op) for c in changes] == [(*NS, "create"), (*DEPLOY, "create")]
    preview_args = any_cli.calls[-1]
    assert preview_args[0] == "preview" and "--json" in preview_args
    assert any(a.startswith("--client=127.0.0.1:") for a in preview_args)  # inline program
    log = preview_args[preview_args.index("--event-log") + 1]
    assert log.startswith("tcp://127.0.0.1:") == (any_cli.version.minor > 205)
    starts = [(p.type, p.name, p.op) for p in seen if p.kind == "start"]
    assert starts == [(*NS, "create"), (*DEPLOY, "create")]  # the root Stack is not shown
    summary = [p for p in seen if p.kind == "summary"]
    assert summary and summary[0].changes == {"create": 3}


def test_second_preview_after_up_is_all_same(tmp_path, standin):
    standin.desired["demo-lab"] = [NS]
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    workspace.up(stack)
    assert [c.op for c in workspace.preview(stack)] == ["same"]
    standin.desired["demo-lab"] = [DEPLOY]
    changes = {(c.name, c.op) for c in workspace.preview(stack)}
    assert changes == {(DEPLOY[1], "create"), (NS[1], "delete")}


def test_up_reports_progress_and_drops_secret_outputs(tmp_path, any_cli):
    any_cli.desired["demo-lab"] = [NS, DEPLOY]
    any_cli.outputs["demo-lab"] = {
        "gateway_endpoint": ("10.0.0.7", False),
        "kubeconfig": ("apiVersion: v1 # secret", True),
    }
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, any_cli))
    seen: list[Progress] = []
    outputs = workspace.up(stack, seen.append)
    assert outputs == {"gateway_endpoint": "10.0.0.7"}
    up_args = next(c for c in any_cli.calls if c[0] == "up")
    assert up_args[:3] == ["up", "--yes", "--skip-preview"]
    done = [(p.name, p.op) for p in seen if p.kind == "done"]
    assert done == [(NS[1], "create"), (DEPLOY[1], "create")]
    # Stack.up reads outputs (masked, then with secrets) and the last history entry itself
    assert ["stack", "output", "--json", "--show-secrets", "--stack", "demo-lab"] in any_cli.calls


def test_a_locked_stack_is_state_locked_exit_5(tmp_path, standin):
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    standin.locked.add("demo-lab")
    with pytest.raises(StateLocked) as caught:
        workspace.preview(stack)
    assert caught.value.exit_code == ExitCode.LOCKED == 5
    assert "demo-lab" in caught.value.message
    assert "llmctl unlock --force" in caught.value.hint


def test_ctrl_c_during_up_cancels_the_stack_and_says_how_to_recover(tmp_path, any_cli):
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, any_cli))
    any_cli.interrupt_up.add("demo-lab")
    with pytest.raises(Interrupted) as caught:
        workspace.up(stack)
    assert caught.value.exit_code == ExitCode.INTERRUPTED == 130
    assert any_cli.cancelled == ["demo-lab"]
    assert ["cancel", "--yes", "--stack", "demo-lab"] in any_cli.calls
    assert "demo-lab" not in any_cli.locked  # the cancel released the engine's lock
    assert "llmctl apply" in caught.value.hint


def test_ctrl_c_when_cancel_finds_nothing_running_still_explains(tmp_path, standin):
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    standin.interrupt_up.add("demo-lab")
    original = standin._operation

    def interrupted_then_released(verb, args):
        try:
            return original(verb, args)
        finally:
            standin.locked.discard("demo-lab")  # the update stopped by itself before cancel

    standin._operation = interrupted_then_released  # type: ignore[method-assign]
    with pytest.raises(Interrupted) as caught:
        workspace.up(stack)
    assert "pulumi cancel --stack demo-lab" in caught.value.hint
    assert "llmctl unlock --force" in caught.value.hint


def test_a_failed_resource_is_named_with_its_reason(tmp_path, standin):
    standin.desired["demo-lab"] = [NS, DEPLOY]
    standin.fail_up["demo-lab"] = (
        *DEPLOY,
        "admission webhook denied: exceeded quota nvidia.com/gpu",
    )
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    with pytest.raises(EngineError) as caught:
        workspace.up(stack)
    message = caught.value.message
    assert f"{DEPLOY[0]} {DEPLOY[1]}" in message
    assert "exceeded quota nvidia.com/gpu" in message
    assert NS[1] not in message
    assert "llmctl apply" in caught.value.hint


def test_destroy_deletes_what_up_created(tmp_path, standin):
    standin.desired["demo-lab"] = [NS]
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    workspace.up(stack)
    seen: list[Progress] = []
    workspace.destroy(stack, seen.append)
    assert [(p.name, p.op) for p in seen if p.kind == "done"] == [(NS[1], "delete")]
    assert standin.stacks["demo-lab"].applied == []


def test_no_pulumi_on_path_is_engine_missing_with_install_steps(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineMissing) as caught:
        workspace.pulumi_command()
    assert "curl -fsSL https://get.pulumi.com | sh" in caught.value.hint
    assert "brew install pulumi" in caught.value.hint
    assert "3.181" in caught.value.hint


def test_urns_and_summaries_in_the_plan_vocabulary():
    assert workspace.split_urn("urn:pulumi:s::llmctl::my:comp:Comp$aws:iam/role:Role::r::x") == (
        "aws:iam/role:Role",
        "r::x",
    )
    steps = [
        {"op": "create-replacement", "urn": "urn:pulumi:s::p::t:m:T::a"},
        {"op": "replace", "urn": "urn:pulumi:s::p::t:m:T::a"},
        {"op": "delete-replaced", "urn": "urn:pulumi:s::p::t:m:T::a"},
        {"op": "update", "urn": "urn:pulumi:s::p::t:m:T::b"},
    ]
    assert [(c.name, c.op) for c in workspace.steps_to_changes(steps)] == [
        ("a", "replace"),
        ("b", "update"),
    ]
    from pulumi.automation import OpType

    assert workspace.summary_ops({OpType.CREATE: 2, "same": 4, "delete-replaced": 1}) == {
        "create": 2,
        "same": 4,
        "replace": 1,
    }


def test_a_provider_conflict_is_a_failed_resource_not_a_lock(tmp_path, standin):
    standin.desired["demo-lab"] = [DEPLOY]
    standin.fail_up["demo-lab"] = (*DEPLOY, "Operation cannot be fulfilled: 409 Conflict")
    stack = workspace.open_stack("demo-lab", _program, _config(tmp_path, standin))
    with pytest.raises(EngineError) as caught:
        workspace.up(stack)
    assert not isinstance(caught.value, StateLocked)
    assert "409 Conflict" in caught.value.message
