"""The deploy commands through the real entry point (`cli` fixture): plan on every example,
--detailed-exitcode, apply's refusal without a terminal, exit codes 3, 5 and 130, doctor."""

from __future__ import annotations

import json

import pytest

from llmctl.engine import lifecycle
from llmctl.engine.backend import open_state
from llmctl.releases.lock import StateLock
from tests.engine.conftest import EXAMPLES, compiled, example_path

PLAN_KEYS = {"offline", "stacks", "warnings", "cost", "addons", "baseline"}
STACK_KEYS = {"name", "cluster", "changes", "resources"}
OPS = {"create", "update", "replace", "delete", "same"}


def _state_for(name: str, request) -> None:
    """examples/aws keeps its state in S3: serve that bucket from moto on loopback."""
    if name == "aws":
        request.getfixturevalue("s3_state")


@pytest.mark.parametrize("name", EXAMPLES)
def test_offline_plan_json_on_every_example(cli, name, request, standin):
    _state_for(name, request)
    path = str(example_path(name))
    code, out, err = cli("plan", "-f", path, "--offline", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert set(plan) == PLAN_KEYS and plan["offline"] is True
    assert isinstance(plan["warnings"], list) and all(isinstance(w, str) for w in plan["warnings"])
    assert plan["stacks"], "every example has at least one stack"
    for stack in plan["stacks"]:
        assert set(stack) == STACK_KEYS
        assert set(stack["changes"]) == OPS
        assert stack["resources"], f"{stack['name']} registers nothing"
        for r in stack["resources"]:
            assert set(r) == {"type", "name", "op"}
        assert {r["op"] for r in stack["resources"]} == {"create"}  # a fresh state
        assert stack["changes"]["create"] == len(stack["resources"])
    cost = plan["cost"]
    assert set(cost["monthly_usd"]) == {"min", "expected", "max"}
    assert 0 < cost["monthly_usd"]["expected"] <= cost["monthly_usd"]["max"]
    assert cost["delta_monthly_usd"] == cost["monthly_usd"]["expected"]  # nothing applied yet
    assert cost["by_model"] and cost["by_pool"]
    d = compiled(name).deployment
    assert [s["name"] for s in plan["stacks"]][: len(d.clusters)] == [
        f"{d.name}-{c.name}" for c in d.clusters
    ]

    code, _, _ = cli("plan", "-f", path, "--offline", "--detailed-exitcode")
    assert code == 2  # changes present

    # apply through the engine boundary (the stand-in CLI), then plan again: all "same"
    lifecycle.apply(compiled(name), yes=True, interactive=False, pulumi_command=standin)
    code, out, err = cli("plan", "-f", path, "--offline", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert [s["name"] for s in again["stacks"]] == [s["name"] for s in plan["stacks"]]
    for stack in again["stacks"]:
        assert {r["op"] for r in stack["resources"]} == {"same"}
        assert stack["changes"]["same"] == len(stack["resources"])
    assert again["cost"]["delta_monthly_usd"] == 0
    assert cli("plan", "-f", path, "--offline", "--detailed-exitcode")[0] == 0


def test_human_offline_plan_has_the_banner_symbols_and_totals(cli):
    code, out, _ = cli("plan", "-f", str(example_path("onprem")), "--offline")
    assert code == 0
    assert out.startswith("offline: structural plan, no provider diff (--offline)")
    assert "  stack onprem-chat-dc1 (cluster dc1, context " in out
    assert "    + k8s:Deployment" in out  # short types; --json keeps the full token
    totals = [line for line in out.splitlines() if line.startswith("Plan: ")]
    n = sum(1 for line in out.splitlines() if line.startswith("    + "))
    assert totals == [f"Plan: {n} to create, 0 to change, 0 to destroy."]
    assert "Cost (USD / month)" in out


def test_plan_without_a_pulumi_cli_goes_offline_and_says_why(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, _ = cli("plan", "-f", str(example_path("quickstart")))
    assert code == 0
    assert out.splitlines()[0] == (
        "offline: structural plan, no provider diff (Pulumi CLI not "
        "found; `llmctl doctor` says how to install it)"
    )


def test_online_plan_previews_through_the_engine(cli, standin_cli):
    code, out, err = cli("plan", "-f", str(example_path("onprem")), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["offline"] is False
    assert [r["op"] for r in plan["stacks"][0]["resources"]] == ["create"]
    assert any(call[0] == "preview" for call in standin_cli.calls)


def test_detailed_exitcode_is_1_on_an_invalid_spec(cli, tmp_path):
    bad = tmp_path / "llm.yaml"
    bad.write_text("version: 1\nname: Bad_Name\n")
    code, _, err = cli("plan", "-f", str(bad), "--offline", "--detailed-exitcode")
    assert code == 1
    assert "llm.yaml" in err


def test_over_budget_with_block_prints_the_plan_then_exits_3(cli, tmp_path):
    text = example_path("onprem").read_text()
    assert "budget:" in text
    spec = tmp_path / "llm.yaml"
    spec.write_text(text.split("budget:")[0] + "budget: {monthly_usd: 10, on_exceed: block}\n")
    code, out, err = cli("plan", "-f", str(spec), "--offline", "--json")
    assert code == 3
    assert json.loads(out)["cost"]["budget"]["status"] == "block"
    assert "exceeds the budget" in err


def test_apply_without_a_terminal_and_without_yes_is_exit_1(cli, standin_cli):
    code, out, err = cli("apply", "-f", str(example_path("onprem")))
    assert code == 1
    assert "refusing to apply without --yes: no terminal to confirm on" in err
    assert standin_cli.calls == []  # refused before compiling or reaching the engine


def test_apply_yes_in_ci_prints_plain_progress_and_the_revision(cli, standin_cli):
    code, out, err = cli("apply", "-f", str(example_path("onprem")), "--yes")
    assert code == 0, err
    assert "onprem-chat-dc1: creating kubernetes:core/v1:Namespace namespace" in out
    assert "Applied: revision 1 (applied)." in out
    code, out, err = cli("apply", "-f", str(example_path("onprem")), "--yes", "--json")
    assert code == 0
    assert json.loads(out)["revision"] == 1  # nothing changed: still the same revision
    assert json.loads(out)["changed"] is False
    code, out, _ = cli("apply", "-f", str(example_path("onprem")), "--yes")
    assert "Nothing to apply: revision 1 is current." in out


def test_progress_bar_on_a_tty_advances_per_finished_step():
    from llmctl.cli.progress import ProgressReporter
    from llmctl.engine.workspace import Progress

    reporter = ProgressReporter(tty=True, stderr=False)
    with reporter:
        reporter.expect(2)
        reporter.event(Progress("s", "start", op="same", type="t:m:T", name="kept"))
        assert reporter._bar is None  # unchanged resources are not steps
        reporter.event(Progress("s", "start", op="create", type="t:m:T", name="a"))
        reporter.event(Progress("s", "done", op="create", type="t:m:T", name="a"))
        task = reporter._bar.tasks[0]
        assert (task.completed, task.total) == (1, 2)
        assert "creating t:m:T a" in task.description


def test_pulumi_stack_lock_is_exit_5_from_the_cli(cli, standin_cli):
    path = str(example_path("onprem"))
    assert cli("plan", "-f", path, "--json")[0] == 0  # the stack now exists
    standin_cli.locked.add("onprem-chat-dc1")
    code, _, err = cli("apply", "-f", path, "--yes")
    assert code == 5
    assert "stack onprem-chat-dc1 is locked by another Pulumi operation" in err


def test_apply_while_locked_is_exit_5(cli, standin_cli):
    c = compiled("onprem")
    state = open_state(c.deployment)
    with StateLock(state.backend, c.deployment.name, "apply"):
        code, _, err = cli("apply", "-f", str(example_path("onprem")), "--yes")
    assert code == 5
    assert "locked by" in err and "llmctl unlock --force" in err


def test_ctrl_c_during_apply_is_exit_130_with_recovery(cli, standin_cli):
    standin_cli.interrupt_up.add("onprem-chat-dc1")
    code, _, err = cli("apply", "-f", str(example_path("onprem")), "--yes")
    assert code == 130
    assert "interrupted during up of onprem-chat-dc1" in err
    assert "run `llmctl apply` again" in err


def test_status_and_destroy_and_unlock_commands(cli, standin_cli):
    path = str(example_path("onprem"))
    assert cli("apply", "-f", path, "--yes")[0] == 0
    code, out, _ = cli("status", "-f", path, "--json")
    assert code == 0 and json.loads(out)["revision"]["number"] == 1
    code, out, _ = cli("status", "-f", path)
    assert "revision 1" in out and "source: the last apply" in out
    assert cli("destroy", "-f", path)[0] == 1  # no terminal, no --yes
    code, out, _ = cli("destroy", "-f", path, "--yes")
    assert code == 0 and "onprem-chat-dc1" in out
    code, out, _ = cli("unlock", "-f", path)
    assert code == 0 and "is not locked" in out


def test_doctor_without_pulumi_says_how_to_install_it(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, _ = cli("doctor")
    assert code == 1
    assert "FAIL  pulumi: the Pulumi CLI is not on PATH" in out
    assert "curl -fsSL https://get.pulumi.com | sh" in out and "brew install pulumi" in out
    code, out, _ = cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1 and checks["pulumi"]["ok"] is False
    assert "get.pulumi.com" in checks["pulumi"]["fix"]
    assert (
        checks["aws credentials"]["ok"] is False
        and "aws configure" in checks["aws credentials"]["fix"]
    )


def test_doctor_with_a_cli_checks_version_plugins_and_kubeconfig(standin, tmp_path, monkeypatch):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\ncontexts:\n- name: dc1-admin\n  context: {cluster: a}\n"
        "current-context: dc1-admin\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    checks = {c.name: c for c in lifecycle.doctor(compiled("onprem").deployment, standin)}
    assert checks["pulumi"].ok and "v3.272.0" in checks["pulumi"].detail
    assert checks["pulumi plugins"].ok and "aws 7.51.1" in checks["pulumi plugins"].detail
    assert checks["aws credentials"].ok and "not needed" in checks["aws credentials"].detail
    context = compiled("onprem").deployment.clusters[0].context
    assert checks["kubeconfig"].ok == (context in (None, "dc1-admin"))
    old = type(standin)(version="3.100.0")
    old.plugins = [p for p in old.plugins if p["name"] != "aws"]
    checks = {c.name: c for c in lifecycle.doctor(None, old)}
    assert not checks["pulumi"].ok and "older than 3.181.0" in checks["pulumi"].detail
    assert not checks["pulumi plugins"].ok
    assert "pulumi plugin install resource aws v" in checks["pulumi plugins"].fix
