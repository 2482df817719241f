"""Canary, blue-green and rolling rollouts judged by a real Prometheus (tests/metrics scenarios),
with the engine boundary stood in by a recording StepApplier; revisions on file:// and s3://.

Expected figures come from the scenario generator, as in tests/metrics/test_analysis.py.
"""

from __future__ import annotations

import json

import pytest

from llmctl.errors import ExitCode, LlmctlError, RolledBack
from llmctl.releases.revisions import RevisionStore
from llmctl.rollout import record
from llmctl.rollout.plan import peak_canary
from llmctl.room import rollout_surge

from .conftest import INTERVAL, NAME, POOL, RecordingStepApplier, change_for

pytestmark = pytest.mark.prometheus


def test_passing_canary_steps_through_the_weights_and_is_promoted(backend, make_driver, sleep):
    change = change_for("chat-ok", replicas=4)
    applier = RecordingStepApplier()  # stand-in for the engine

    result = make_driver(backend, applier).start(change, spec_text="name: support-bot\n")

    assert result.status == "promoted"
    assert applier.trace() == [
        ("canary", 10, "old", {POOL: 1}),  # ceil(4 x 10%)
        ("canary", 50, "old", {POOL: 2}),  # ceil(4 x 50%)
        ("promote", 50, "new", {POOL: 2}),  # the stable takes the new identity; canary kept
        ("finalize", 0, "new", {}),
    ]
    promote = applier.steps[2]
    assert promote.max_surge == {POOL: 4} and promote.max_unavailable == {POOL: 0}
    # Two canary steps and the 100% step, each judged after one interval.
    assert sleep.total == 3 * INTERVAL
    entry = record.load(backend, NAME, "chat-ok")
    assert entry["status"] == "promoted" and entry["engine"] is None
    assert entry["last_analysis"]["track"] == "stable"  # the 100% step judges the new stable
    assert entry["last_analysis"]["verdict"] == "pass"
    revision = RevisionStore(backend, NAME).latest(None)
    assert revision.outcome == "applied" and revision.number == entry["revision"]
    assert revision.release == change.new  # the IR and the images the rollout deployed
    assert revision.spec_text == "name: support-bot\n"
    assert f"({change.old_identity} -> {change.new_identity})" in revision.message


def test_largest_canary_is_the_room_validate_checks():
    change = change_for("chat-ok", replicas=4)
    placement = change.new_model.placements[0]
    # compile records room.rollout_surge in the IR; the driver asks the same rule
    assert peak_canary(change) == {POOL: rollout_surge(change.new_model.rollout, placement)}
    assert peak_canary(change) == {POOL: 2}  # ceil(4 x 50%)


def test_error_rate_breach_rolls_back_with_the_figures(backend, make_driver, prometheus):
    load = prometheus.scenarios["chat-errors"].canary
    applier = RecordingStepApplier()

    with pytest.raises(RolledBack) as caught:
        make_driver(backend, applier).start(change_for("chat-errors"))

    exc = caught.value
    assert exc.exit_code == ExitCode.ROLLED_BACK == 4
    assert "failed its analysis at step 1/3 (10% canary)" in exc.message
    assert f"error rate {load.error_rate():.2%} > max 1.00%" in exc.message
    assert f"{load.requests(INTERVAL)} requests in {INTERVAL}s >= min 50" in exc.message
    assert "all traffic of chat-errors is on the stable version" in exc.message
    assert applier.trace() == [("canary", 10, "old", {POOL: 1}), ("rollback", 0, "old", {})]
    entry = record.load(backend, NAME, "chat-errors")
    assert entry["status"] == "rolled-back"
    assert entry["weights"] == {"stable": 100, "canary": 0} and entry["canary_replicas"] == {}
    assert entry["last_analysis"]["error_rate"] == pytest.approx(load.error_rate(), rel=1e-9)
    revision = RevisionStore(backend, NAME).latest(None)
    assert revision.outcome == "rolled-back"
    assert f"error rate {load.error_rate():.2%} > max 1.00%" in revision.message
    assert RevisionStore(backend, NAME).latest("applied") is None


def test_ttft_breach_rolls_back_with_the_measured_p95(file_backend, make_driver, prometheus):
    load = prometheus.scenarios["chat-slow"].canary
    applier = RecordingStepApplier()

    with pytest.raises(RolledBack) as caught:
        make_driver(file_backend, applier).start(change_for("chat-slow"))

    assert f"ttft p95 {load.ttft_p95():.3f}s > max 1.500s" in caught.value.message
    assert "error rate 0.00% <= max 1.00%" in caught.value.message
    assert [s.phase for s in applier.steps] == ["canary", "rollback"]


def test_too_little_traffic_waits_then_fails_as_a_breach(
    file_backend, make_driver, prometheus, sleep
):
    load = prometheus.scenarios["chat-quiet"].canary
    applier = RecordingStepApplier()

    with pytest.raises(RolledBack) as caught:
        make_driver(file_backend, applier).start(change_for("chat-quiet", min_requests=10_000))

    # Judged three times, over 5, 10 and 15 minutes: never enough requests.
    assert sleep.total == 3 * INTERVAL
    window = 3 * INTERVAL
    assert "got too little traffic to judge at step 1/3 (10% canary) after 3 intervals" in (
        caught.value.message
    )
    assert f"{load.requests(window)} requests in {window}s < min 10000" in caught.value.message
    assert [s.phase for s in applier.steps] == ["canary", "rollback"]
    entry = record.load(file_backend, NAME, "chat-quiet")
    assert entry["last_analysis"]["window"] == f"{window}s"


def test_a_longer_window_can_turn_too_little_traffic_into_a_verdict(
    file_backend, make_driver, prometheus, sleep
):
    # 40 requests in 5 minutes is under 50; 80 in 10 minutes is enough, and half of them failed.
    load = prometheus.scenarios["chat-quiet"].canary
    assert load.requests(INTERVAL) < 50 <= load.requests(2 * INTERVAL)

    with pytest.raises(RolledBack) as caught:
        make_driver(file_backend, RecordingStepApplier()).start(change_for("chat-quiet"))

    assert sleep.total == 2 * INTERVAL
    assert "failed its analysis" in caught.value.message
    assert f"{load.requests(2 * INTERVAL)} requests in {2 * INTERVAL}s >= min 50" in (
        caught.value.message
    )


def test_blue_green_switches_once_and_keeps_the_old_set_until_promotion(
    file_backend, make_driver, sleep
):
    applier = RecordingStepApplier()
    change = change_for("chat-ok", strategy="blue-green", steps=(100,), replicas=2)

    result = make_driver(file_backend, applier, hold_seconds=120).start(change)

    assert result.status == "promoted"
    assert applier.trace() == [
        ("blue-green-up", 0, "old", {POOL: 2}),  # the full new set, no traffic
        ("blue-green-switch", 100, "old", {POOL: 2}),  # one switch; old set still up
        ("promote", 100, "new", {POOL: 2}),
        ("finalize", 0, "new", {}),
    ]
    # The new set carries all traffic while the stable set is replaced: all at once.
    assert applier.steps[2].max_unavailable == {POOL: 2}
    assert sleep.total == INTERVAL + 120  # the analysis after the switch, then the hold


def test_blue_green_breach_switches_back(file_backend, make_driver):
    applier = RecordingStepApplier()
    change = change_for("chat-errors", strategy="blue-green", steps=(100,), replicas=2)

    with pytest.raises(RolledBack):
        make_driver(file_backend, applier).start(change)

    assert [s.phase for s in applier.steps] == ["blue-green-up", "blue-green-switch", "rollback"]
    assert applier.steps[-1].weights == {"stable": 100, "canary": 0}


def test_rolling_is_one_update_with_surge_bounded_by_free_gpus(file_backend, make_driver, sleep):
    # One node of 8 GPUs holding 3 replicas x 2 GPUs: room for one more replica, not two.
    applier = RecordingStepApplier()
    change = change_for("chat-ok", strategy="rolling", steps=(100,), replicas=3, gpus=2, nodes=1)

    result = make_driver(file_backend, applier, prometheus=None).start(change)

    assert result.status == "promoted"
    assert applier.trace() == [("rolling", 0, "new", {})]
    assert applier.steps[0].max_surge == {POOL: 1}
    assert applier.steps[0].max_unavailable == {POOL: 0}
    assert sleep.calls == []
    full = change_for("chat-ok", strategy="rolling", steps=(100,), replicas=4, gpus=2, nodes=1)
    applier = RecordingStepApplier()
    make_driver(file_backend, applier, prometheus=None).start(full)
    assert applier.steps[0].max_surge == {POOL: 0}
    assert applier.steps[0].max_unavailable == {POOL: 1}  # one at a time


def test_canary_without_room_refuses_to_start_with_the_figures(file_backend, make_driver):
    applier = RecordingStepApplier()
    change = change_for("chat-ok", replicas=4, gpus=2, nodes=1)

    with pytest.raises(LlmctlError) as caught:
        make_driver(file_backend, applier).start(change)

    assert caught.value.message == (
        "pool dc1/a100 has no room for the canary of chat-ok: 2 canary replicas x 2 GPU on top "
        "of the 8 GPUs placed there need 2 nodes of 8 GPUs; the pool has 1 (0 GPUs free)"
    )
    assert "strategy: rolling" in caught.value.hint
    assert applier.steps == [] and record.load(file_backend, NAME, "chat-ok") is None


def test_canary_needs_a_prometheus(file_backend, make_driver):
    with pytest.raises(LlmctlError, match="monitoring.prometheus_url"):
        make_driver(file_backend, RecordingStepApplier(), prometheus=None).start(
            change_for("chat-ok")
        )


def test_record_keeps_no_secret_and_both_irs(file_backend, make_driver):
    make_driver(file_backend, RecordingStepApplier()).start(change_for("chat-ok"))
    entry = record.load(file_backend, NAME, "chat-ok")
    change = record.change_of(entry)
    assert change.old_identity == change.old_model.identity()
    assert change.new_identity == change.new_model.identity()
    assert "old_ir" not in record.public(entry)
    assert json.loads(json.dumps(record.public(entry))) == record.public(entry)
