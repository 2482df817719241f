"""Interrupted, paused, aborted and promoted rollouts: the record in the state backend is the
truth, and `resume` continues from the step it names. The engine boundary is the recording
stand-in StepApplier; analysis runs against the real Prometheus."""

from __future__ import annotations

import pytest

from llmctl.errors import EngineError, ExitCode, Interrupted, LlmctlError, StateLocked
from llmctl.releases.lock import StateLock
from llmctl.releases.revisions import RevisionStore
from llmctl.rollout import record
from llmctl.rollout.control import control_rollout, rollout_status
from llmctl.rollout.plan import changed_models, serving_changes

from .conftest import INTERVAL, NAME, POOL, RecordingStepApplier, change_for

pytestmark = pytest.mark.prometheus


def test_ctrl_c_inside_step_2_leaves_a_record_that_resume_continues_from(backend, make_driver):
    change = change_for("chat-ok", replicas=4)
    first = RecordingStepApplier(interrupt_at=2)  # Ctrl-C during the stack update of step 2

    with pytest.raises(Interrupted) as caught:
        make_driver(backend, first).start(change)

    assert caught.value.exit_code == ExitCode.INTERRUPTED == 130
    assert "interrupted at step 2/3 (50% canary) while the engine was updating" in (
        caught.value.message
    )
    assert "llmctl rollout resume --model chat-ok" in caught.value.hint
    entry = record.load(backend, NAME, "chat-ok")
    assert (entry["status"], entry["step_index"], entry["engine"]) == ("interrupted", 1, "applying")
    assert entry["weights"] == {"stable": 50, "canary": 50}
    assert RevisionStore(backend, NAME).numbers() == []  # nothing recorded until it ends

    second = RecordingStepApplier()
    result = make_driver(backend, second).resume("chat-ok")

    assert result.status == "promoted"
    assert second.trace() == [
        ("canary", 50, "old", {POOL: 2}),  # step 2 again: the update may not have finished
        ("promote", 50, "new", {POOL: 2}),
        ("finalize", 0, "new", {}),
    ]
    revisions = RevisionStore(backend, NAME).list()
    assert [(r.number, r.outcome) for r in revisions] == [(1, "applied")]


def test_pause_request_stops_at_the_current_step_and_resume_goes_on(
    file_backend, make_driver, sleep
):
    # Another shell runs `llmctl rollout pause` while the driver waits at step 1.
    sleep.on_call[1] = lambda: record.request(file_backend, NAME, "chat-ok", "pause", 0.0)
    applier = RecordingStepApplier()

    result = make_driver(file_backend, applier).start(change_for("chat-ok"))

    assert result.status == "paused"
    assert applier.trace() == [("canary", 10, "old", {POOL: 1})]  # the split is kept
    entry = record.load(file_backend, NAME, "chat-ok")
    assert entry["status"] == "paused" and entry["message"] == "paused at step 1/3 (10% canary)"
    assert record.take_request(file_backend, NAME, "chat-ok") is None  # the request was taken

    applier = RecordingStepApplier()
    assert make_driver(file_backend, applier).resume().status == "promoted"
    assert [s.canary_weight for s in applier.steps] == [10, 50, 50, 0]


def test_abort_of_an_interrupted_rollout_returns_traffic_to_stable(file_backend, make_driver):
    with pytest.raises(Interrupted):
        make_driver(file_backend, RecordingStepApplier(interrupt_at=2)).start(change_for("chat-ok"))
    applier = RecordingStepApplier()

    result = make_driver(file_backend, applier).abort("chat-ok")

    assert result.status == "aborted"
    assert applier.trace() == [("abort", 0, "old", {})]
    entry = record.load(file_backend, NAME, "chat-ok")
    assert entry["status"] == "aborted" and entry["weights"] == {"stable": 100, "canary": 0}
    revision = RevisionStore(file_backend, NAME).latest(None)
    assert revision.outcome == "rolled-back"
    assert revision.message == "rollout of chat-ok aborted at step 2/3 (50% canary)"
    with pytest.raises(LlmctlError, match="is over"):
        make_driver(file_backend, RecordingStepApplier()).resume("chat-ok")


def test_abort_request_while_running(file_backend, make_driver, sleep):
    sleep.on_call[2] = lambda: record.request(file_backend, NAME, "chat-ok", "abort", 0.0)
    applier = RecordingStepApplier()

    result = make_driver(file_backend, applier).start(change_for("chat-ok"))

    assert result.status == "aborted"
    assert [s.phase for s in applier.steps] == ["canary", "abort"]


def test_promote_skips_the_remaining_steps_and_their_analysis(file_backend, make_driver, sleep):
    sleep.on_call[1] = lambda: record.request(file_backend, NAME, "chat-ok", "pause", 0.0)
    make_driver(file_backend, RecordingStepApplier()).start(change_for("chat-ok", replicas=4))
    sleep.calls.clear()
    applier = RecordingStepApplier()

    result = make_driver(file_backend, applier).promote()

    assert result.status == "promoted"
    assert applier.trace() == [("promote", 10, "new", {POOL: 1}), ("finalize", 0, "new", {})]
    assert sleep.calls == []  # no analysis
    assert RevisionStore(file_backend, NAME).latest(None).outcome == "applied"


def test_engine_failure_is_recorded_and_resumable(file_backend, make_driver, sleep):
    with pytest.raises(EngineError):
        make_driver(file_backend, RecordingStepApplier(fail_at=3)).start(change_for("chat-ok"))
    entry = record.load(file_backend, NAME, "chat-ok")
    assert entry["status"] == "failed" and entry["phase"] == "promote"
    assert "update failed (stand-in)" in entry["message"]

    applier = RecordingStepApplier()
    assert make_driver(file_backend, applier).resume().status == "promoted"
    assert [s.phase for s in applier.steps] == ["promote", "finalize"]


def test_a_new_rollout_waits_for_the_unfinished_one(file_backend, make_driver):
    with pytest.raises(Interrupted):
        make_driver(file_backend, RecordingStepApplier(interrupt_at=1)).start(change_for("chat-ok"))
    with pytest.raises(LlmctlError, match="unfinished rollout") as caught:
        make_driver(file_backend, RecordingStepApplier()).start(change_for("chat-ok"))
    assert "rollout abort --model chat-ok" in caught.value.hint


def test_control_hands_requests_to_the_lock_holder(file_backend, make_driver):
    with pytest.raises(Interrupted):
        make_driver(file_backend, RecordingStepApplier(interrupt_at=1)).start(change_for("chat-ok"))
    entry = record.load(file_backend, NAME, "chat-ok")
    record.save(file_backend, NAME, {**entry, "status": "running"})  # as a live run has it

    def no_driver(entry):
        raise AssertionError("the lock holder runs the rollout, not this process")

    with StateLock(file_backend, NAME, "apply"):
        outcome = control_rollout(file_backend, NAME, "pause", None, no_driver)
        assert outcome.requested and outcome.model == "chat-ok"
        assert record.take_request(file_backend, NAME, "chat-ok") == "pause"
        with pytest.raises(StateLocked):
            control_rollout(file_backend, NAME, "resume", None, no_driver)

    outcome = control_rollout(file_backend, NAME, "pause", "chat-ok", no_driver)
    assert not outcome.requested and outcome.entry["status"] == "paused"
    status = rollout_status(file_backend, NAME)
    assert status["lock"] is None
    assert [(r["model"], r["status"], r["where"]) for r in status["rollouts"]] == [
        ("chat-ok", "paused", "step 1/3 (10% canary)")
    ]


def test_serving_changes_only_for_identity_changes():
    change = change_for("chat-ok")
    old, new = change.old.deployment, change.new.deployment
    assert changed_models(None, new) == []
    assert changed_models(old, old) == []
    assert [m.name for _, m in changed_models(old, new)] == ["chat-ok"]
    assert [c.model for c in serving_changes(change.old, change.new)] == ["chat-ok"]
    # More replicas is a plain apply, not a rollout.
    bigger = old.model_copy(
        update={
            "models": (
                old.models[0].model_copy(
                    update={
                        "placements": (
                            old.models[0].placements[0].model_copy(update={"max_replicas": 6}),
                        )
                    }
                ),
            )
        }
    )
    assert changed_models(old, bigger) == []
    # A model that is new, or gone, is a plain apply too.
    assert changed_models(old.model_copy(update={"models": ()}), new) == []
    assert changed_models(old, new.model_copy(update={"models": ()})) == []


def test_interval_analysis_windows_follow_the_waits(file_backend, make_driver, sleep):
    make_driver(file_backend, RecordingStepApplier()).start(change_for("chat-ok"))
    assert sleep.total == 3 * INTERVAL and max(sleep.calls) <= 10  # polled for requests
