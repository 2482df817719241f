"""llmctl.engine.lifecycle: plan, apply, destroy, unlock and status over the real stack programs,
the real state backend and revisions, with the stand-in only for the Pulumi CLI process."""

from __future__ import annotations

import json

import pytest

from llmctl.engine import lifecycle
from llmctl.engine.backend import last_applied, open_state
from llmctl.errors import EngineError, ExitCode, Interrupted, LlmctlError, StateLocked
from llmctl.releases.lock import StateLock
from tests.engine.conftest import API_KEYS, compiled

HYBRID_ENDPOINTS = {
    "support-bot-aws": "k8s-envoy-1a2b.elb.us-west-2.amazonaws.com",
    "support-bot-onprem": "10.20.0.15",
}


def _endpoints(standin) -> None:
    for stack, address in HYBRID_ENDPOINTS.items():
        standin.outputs[stack] = {
            "gateway_endpoint": (address, False),
            "kubeconfig": ("secret kubeconfig", True),
        }


def test_apply_updates_every_stack_in_order_and_records_the_revision(standin):
    c = compiled("hybrid")
    _endpoints(standin)
    events = []
    revision = lifecycle.apply(
        c, yes=True, interactive=False, on_progress=events.append, pulumi_command=standin
    )
    assert revision.number == 1 and revision.outcome == "applied"
    ups = [call[-1] for call in standin.calls if call[0] == "up"]
    assert ups == ["support-bot-onprem", "support-bot-aws", "support-bot-dns"]  # DNS last
    assert revision.spec_text == c.source.text
    assert json.loads(revision.ir) == json.loads(c.deployment.to_json())
    assert set(revision.release.images) == {m.name for m in c.deployment.models}
    assert revision.outputs["endpoints"] == {
        "onprem": "10.20.0.15",
        "aws": HYBRID_ENDPOINTS["support-bot-aws"],
    }
    assert revision.outputs["stacks"]["support-bot-aws"]["outputs"] == {
        "gateway_endpoint": HYBRID_ENDPOINTS["support-bot-aws"]
    }  # the secret one is dropped
    # the DNS stack's recorded resources point at the endpoints the clusters exported
    dns = revision.outputs["resources"]["support-bot-dns"]
    records = [v for k, v in dns.items() if k.startswith("aws:route53/record:Record::aws.")]
    assert records and records[0]["records"] == [HYBRID_ENDPOINTS["support-bot-aws"]]
    stored = json.dumps(revision.outputs)
    assert API_KEYS.split("=")[1] not in stored and "secret kubeconfig" not in stored
    assert {e.kind for e in events} >= {"start", "done", "summary"}


def test_plans_after_an_apply_show_no_changes_online_and_offline(standin):
    c = compiled("hybrid")
    _endpoints(standin)
    lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    online = lifecycle.plan(c, pulumi_command=standin)
    assert not online.offline and not online.has_changes
    offline = lifecycle.plan(c, offline=True)
    assert offline.offline and offline.reason == "--offline"
    assert {r.op for s in offline.stacks for r in s.resources} == {"same"}


def test_apply_with_nothing_to_do_returns_the_current_revision(standin):
    c = compiled("onprem")
    first = lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    again = lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    assert again.number == first.number
    assert sum(1 for call in standin.calls if call[0] == "up") == 1


def test_apply_without_yes_or_terminal_refuses_before_touching_anything(standin):
    with pytest.raises(LlmctlError) as caught:
        lifecycle.apply(compiled("onprem"), yes=False, interactive=False, pulumi_command=standin)
    assert caught.value.message == "refusing to apply without --yes: no terminal to confirm on"
    assert caught.value.exit_code == 1
    assert standin.calls == []


def test_a_declined_confirmation_changes_nothing(standin):
    c = compiled("onprem")
    shown = []
    with pytest.raises(LlmctlError, match="cancelled"):
        lifecycle.apply(
            c,
            yes=False,
            interactive=True,
            pulumi_command=standin,
            show_plan=shown.append,
            confirm=lambda plan: False,
        )
    assert shown and shown[0].has_changes
    assert not any(call[0] == "up" for call in standin.calls)
    assert open_state(c.deployment).store.numbers() == []


def test_apply_while_llmctl_holds_the_lock_is_exit_5(standin):
    c = compiled("onprem")
    state = open_state(c.deployment)
    with (
        StateLock(state.backend, c.deployment.name, "rollback"),
        pytest.raises(StateLocked) as caught,
    ):
        lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    assert caught.value.exit_code == ExitCode.LOCKED
    assert not any(call[0] in ("preview", "up") for call in standin.calls)


def test_apply_when_pulumi_holds_the_stack_lock_is_exit_5(standin):
    c = compiled("onprem")
    lifecycle.plan(c, pulumi_command=standin)  # creates the stack
    standin.locked.add("onprem-chat-dc1")
    with pytest.raises(StateLocked) as caught:
        lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    assert caught.value.exit_code == 5
    assert open_state(c.deployment).store.numbers() == []  # nothing ran, nothing recorded


def test_a_failed_apply_records_a_failed_revision_and_names_the_resource(standin):
    c = compiled("onprem")
    bad = ("kubernetes:apps/v1:Deployment", "deployment-llm-qwen-7b-a100")
    standin.desired["onprem-chat-dc1"] = [("kubernetes:core/v1:Namespace", "namespace-llm"), bad]
    standin.fail_up["onprem-chat-dc1"] = (*bad, "Unauthorized")
    with pytest.raises(EngineError) as caught:
        lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    assert f"{bad[0]} {bad[1]} (Unauthorized)" in caught.value.message
    assert "llmctl apply" in caught.value.hint and "revision 1" in caught.value.hint
    state = open_state(c.deployment)
    assert state.store.get(1).outcome == "failed"
    assert last_applied(state) is None  # a failed apply is never the baseline


def test_ctrl_c_during_apply_cancels_records_and_exits_130(standin):
    c = compiled("onprem")
    standin.interrupt_up.add("onprem-chat-dc1")
    with pytest.raises(Interrupted) as caught:
        lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    assert caught.value.exit_code == 130
    assert standin.cancelled == ["onprem-chat-dc1"]
    assert "llmctl apply" in caught.value.hint
    assert open_state(c.deployment).store.get(1).outcome == "failed"
    # the llmctl lock was released on the way out: the next apply can run
    standin.interrupt_up.clear()
    assert lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin).number == 2


def test_destroy_tears_down_dns_first_and_plans_start_over(standin):
    c = compiled("hybrid")
    _endpoints(standin)
    lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    gone = lifecycle.destroy(c.deployment, yes=True, pulumi_command=standin)
    assert gone == ["support-bot-dns", "support-bot-aws", "support-bot-onprem"]
    assert [call[-1] for call in standin.calls if call[0] == "destroy"] == gone
    after = lifecycle.plan(c, offline=True)
    assert {r.op for s in after.stacks for r in s.resources} == {"create"}


def test_destroy_without_yes_or_terminal_refuses(standin):
    with pytest.raises(LlmctlError, match="refusing to destroy without --yes"):
        lifecycle.destroy(compiled("onprem").deployment, yes=False, pulumi_command=standin)


def test_removing_a_cluster_plans_and_applies_the_deletion_of_its_stack(standin, tmp_path):
    from llmctl.compile import compile_file

    c = compiled("hybrid")
    _endpoints(standin)
    lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    text = c.source.text
    smaller = tmp_path / "llm.yaml"
    # keep only the on-prem cluster: drop the aws cluster, its placements and the DNS zone
    smaller.write_text(_without_aws(text))
    c2 = compile_file(smaller)
    offline = lifecycle.plan(c2, offline=True)
    removed = {s.name: {r.op for r in s.resources} for s in offline.stacks}
    assert removed["support-bot-aws"] == {"delete"}
    lifecycle.apply(c2, yes=True, interactive=False, pulumi_command=standin)
    assert "support-bot-aws" in [call[-1] for call in standin.calls if call[0] == "destroy"]


def _without_aws(text: str) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(text)
    data["clusters"] = [c for c in data["clusters"] if c["name"] != "aws"]
    for m in data["models"]:
        m["placements"] = [p for p in m["placements"] if not p["pool"].startswith("aws/")]
    data["gateway"].pop("dns_zone", None)
    import io

    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def test_unlock_force_removes_llmctl_lock_and_cancels_pulumi(standin):
    c = compiled("onprem")
    lifecycle.plan(c, pulumi_command=standin)  # the stack exists
    state = open_state(c.deployment)
    StateLock(state.backend, c.deployment.name, "apply").acquire()  # a process that died
    standin.locked.add("onprem-chat-dc1")
    shown = lifecycle.unlock(c.deployment, force=False, pulumi_command=standin)
    assert shown.lock is not None and shown.lock["operation"] == "apply" and not shown.removed
    done = lifecycle.unlock(c.deployment, force=True, pulumi_command=standin)
    assert done.removed and done.cancelled == ["onprem-chat-dc1"]
    assert lifecycle.unlock(c.deployment, force=False).lock is None


def test_status_from_the_last_apply(standin):
    c = compiled("hybrid")
    _endpoints(standin)
    before = lifecycle.status(c).to_json()
    assert before["source"] == "none" and before["revision"] is None
    lifecycle.apply(c, yes=True, interactive=False, pulumi_command=standin)
    typed = lifecycle.status(c)
    assert typed.revision is not None and typed.revision.number == 1
    after = typed.to_json()
    assert after["source"] == "last-apply" and after["revision"]["number"] == 1
    assert after["in_sync"] is True
    assert after["endpoints"]["onprem"] == "10.20.0.15"
    placements = after["models"][0]["placements"]
    assert placements[0]["desired"] == {"min": 4, "max": 4} and placements[0]["ready"] is None
    assert {g["pool"] for g in after["node_groups"]} == {"onprem/l40s", "aws/burst", "aws/standby"}


def test_passphrase_is_generated_once_private_and_never_shown(standin, capsys):
    import os
    import stat

    from llmctl.engine.backend import llmctl_home

    lifecycle.apply(compiled("onprem"), yes=True, interactive=False, pulumi_command=standin)
    path = llmctl_home() / "passphrase"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32
    assert {env["PULUMI_CONFIG_PASSPHRASE"] for env in standin.envs} == {secret}
    out, err = capsys.readouterr()
    assert secret not in out + err


def test_shared_s3_state_needs_an_explicit_passphrase(standin, s3_state, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    with pytest.raises(LlmctlError, match="PULUMI_CONFIG_PASSPHRASE"):
        lifecycle.apply(compiled("aws"), yes=True, interactive=False, pulumi_command=standin)


def test_doctor_asks_for_the_aws_cli_only_when_an_eks_cluster_needs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no aws, no pulumi
    by_name = {c.name: c for c in lifecycle.doctor(compiled("aws").deployment)}
    assert not by_name["aws cli"].ok and "aws eks get-token" in by_name["aws cli"].detail
    by_name = {c.name: c for c in lifecycle.doctor(compiled("onprem").deployment)}
    assert by_name["aws cli"].ok and by_name["aws cli"].detail == "not needed by this spec"
