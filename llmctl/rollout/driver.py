"""The rollout step driver: moves one model from its deployed identity to the new one, step by
step, judging each step from Prometheus, and rolls it back by itself when a step fails.

Each step is one stack update through a `StepApplier` (`EngineStepApplier` in engine_applier.py
runs it through the engine; tests put a recording stand-in there). The rollout record
(record.py) is written before and after every engine update, so the state backend always says
where a rollout stands, also after a crash or Ctrl-C: `resume` continues from the recorded phase
and step (re-applying it is harmless, an update to the state already reached changes nothing),
`abort` returns all traffic to the stable version.

Per strategy (replica counts: plan.py):

- canary: for each step below 100%: apply, wait `interval`, analyse the canary track. Pass: next
  step. Breach: rollback (weights 100% stable, canary removed), a rolled-back revision, and
  `RolledBack` (exit 4) with the measured figures against the thresholds. Too little traffic:
  wait another interval and judge again over the longer window (all traffic since the step
  began), up to `traffic_waits` times (default 2, so at most 3 intervals per step); still too
  little, and the step fails like a breach: a canary nobody used is not a canary that passed.
  The 100% step is the promotion: the stable track takes the new identity (the canary keeps
  serving), then after `interval` the stable track, now all new, is analysed the same way;
  pass: the canary is removed and the revision is recorded as applied.
- blue-green: the full new set at 0%, then one switch to 100% and the analysis (before the
  switch the new set has no traffic to judge); breach: switch back. Pass: the old set is kept
  warm for `hold_seconds` (default: one interval), during which `rollout abort` switches back
  at once and `rollout promote` ends the wait; then the promotion as above, without analysis.
- rolling: one update of the stable track, surge bounded by the free GPUs; no analysis.

The caller holds the state lock (StateLock) for the whole run; `rollout pause|abort|promote`
from another shell reach the running driver through the control record, checked between sleeps
(every `poll_seconds`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from llmctl.errors import Interrupted, LlmctlError
from llmctl.metrics import PrometheusClient, window_from_seconds
from llmctl.releases.backend import Backend
from llmctl.releases.revisions import Outcome, RevisionStore
from llmctl.rollout import record
from llmctl.rollout.analysis import AnalysisResult, analyse
from llmctl.rollout.plan import (
    ModelChange,
    RolloutStep,
    build_step,
    check_placements,
    check_room,
    peak_canary,
)
from llmctl.rollout.record import RolloutEvent, RolloutResult

TRAFFIC_WAITS = 2
POLL_SECONDS = 10
_ANALYSED = ("canary", "blue-green-up", "blue-green-switch", "promote")


class StepApplier(Protocol):
    """Makes one model's serving state what a RolloutStep says: one stack update."""

    def apply_step(self, step: RolloutStep) -> None:
        """Apply `step`; returns when the engine update is done (raises LlmctlError if not)."""
        ...

    def outputs(self) -> dict[str, Any]:
        """What the last applied step left deployed (stack outputs and resource sets, as a
        revision stores them); {} when unknown. The closing revision records it."""
        ...


class _Requested(Exception):
    """A pause/abort/promote request reached the running driver."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class RolloutDriver:
    """Runs, resumes, aborts or promotes one deployment's rollouts (the caller holds the lock)."""

    def __init__(
        self,
        backend: Backend,
        deployment_name: str,
        applier: StepApplier,
        prometheus: PrometheusClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[RolloutEvent], None] | None = None,
        traffic_waits: int = TRAFFIC_WAITS,
        hold_seconds: int | None = None,
        poll_seconds: float = POLL_SECONDS,
        record_revision: bool = True,
    ) -> None:
        self.backend, self.deployment = backend, deployment_name
        self.applier, self.prometheus = applier, prometheus
        self.clock, self.sleep, self.on_event = clock, sleep, on_event
        self.traffic_waits, self.hold_seconds = traffic_waits, hold_seconds
        self.poll_seconds, self.record_revision = poll_seconds, record_revision

    # --- entry points ------------------------------------------------------------------------

    def start(
        self,
        change: ModelChange,
        spec_text: str | None = None,
    ) -> RolloutResult:
        """Roll `change` out by its strategy, from the first step."""
        current = record.load(self.backend, self.deployment, change.model)
        if current is not None and current.get("status") not in record.FINAL:
            raise record.unfinished_error(current)
        check_placements(change)
        if change.strategy != "rolling":
            self._need_prometheus(change.model, change.strategy)
        check_room(change, peak_canary(change))
        entry = record.new_entry(change, self.clock(), spec_text)
        self._save(entry)
        self._emit(
            "started",
            entry,
            f"{change.model}: {change.strategy} rollout "
            f"{change.old_identity} -> {change.new_identity}",
        )
        return self._drive(entry, change)

    def resume(self, model: str | None = None) -> RolloutResult:
        """Continue an unfinished rollout from its recorded phase and step."""
        entry = self._open(model, "resume")
        change = record.change_of(entry)
        if entry["phase"] in _ANALYSED:
            self._need_prometheus(change.model, change.strategy)
        self._restart(entry, "resumed")
        return self._drive(entry, change)

    def abort(self, model: str | None = None) -> RolloutResult:
        """All traffic back to the stable version, the canary removed; the record says aborted."""
        entry = self._open(model, "abort")
        self._leave(entry, "abort")
        self._restart(entry, "aborting")
        return self._drive(entry, record.change_of(entry))

    def promote(self, model: str | None = None) -> RolloutResult:
        """Skip the remaining steps and their analysis: promote the new version now."""
        entry = self._open(model, "promote")
        if entry["phase"] in ("rollback", "abort"):
            raise LlmctlError(
                f"the rollout of {entry['model']} is rolling back; it cannot be promoted",
                hint=f"`llmctl rollout resume --model {entry['model']}` finishes the rollback",
            )
        if entry["phase"] not in ("promote", "finalize"):
            self._enter_promote(entry, analyse=False)
        entry["analyse_promotion"] = False
        self._restart(entry, "promoting")
        return self._drive(entry, record.change_of(entry))

    # --- the loop ------------------------------------------------------------------------------

    def _drive(self, entry: dict[str, Any], change: ModelChange) -> RolloutResult:
        while entry["status"] == "running":
            try:
                self._advance(entry, change)
            except _Requested as req:
                self._requested(entry, req.action)
            except (KeyboardInterrupt, Interrupted) as exc:
                self._interrupted(entry, exc)
            except LlmctlError as exc:
                entry.update(status="failed", message=f"{record.where(entry)}: {exc.message}")
                self._save(entry)
                raise
        return self._finish(entry, change)

    def _advance(self, entry: dict[str, Any], change: ModelChange) -> None:
        phase = entry["phase"]
        if phase not in ("rollback", "abort", "finalize"):
            self._check(entry)
        if phase == "canary":
            i, steps = entry["step_index"], entry["steps"]
            if steps[i] >= 100:  # the 100% step is the promotion, analysed
                self._enter_promote(entry, analyse=True)
            else:
                self._apply(entry, build_step(change, "canary", i))
                if self._judge(entry, change, "canary"):
                    if i + 1 < len(steps):
                        entry["step_index"] = i + 1
                    else:
                        self._enter_promote(entry, analyse=False)
        elif phase == "blue-green-up":
            self._apply(entry, build_step(change, phase))
            entry["phase"] = "blue-green-switch"
        elif phase == "blue-green-switch":
            self._apply(entry, build_step(change, phase))
            if self._judge(entry, change, "canary"):
                entry["phase"] = "blue-green-hold"
        elif phase == "blue-green-hold":
            hold = self.hold_seconds
            self._wait(entry, change.new_model.rollout.interval_seconds if hold is None else hold)
            self._enter_promote(entry, analyse=False)
        elif phase == "promote":
            canary = entry["weights"]["canary"]
            step = build_step(
                change, "promote", entry.get("step_index"), canary, entry["canary_replicas"]
            )
            self._apply(entry, step)
            if not entry.get("analyse_promotion") or self._judge(entry, change, "stable"):
                entry["phase"] = "finalize"
        elif phase in ("rolling", "finalize", "rollback", "abort"):
            self._apply(entry, build_step(change, phase))
            final = {"rollback": "rolled-back", "abort": "aborted"}.get(phase, "promoted")
            entry.update(status=final, finished_at=record.iso(self.clock()), engine=None)
        else:
            raise LlmctlError(
                f"the rollout record of {entry['model']} has an unknown phase {phase!r}",
                hint="`llmctl rollout abort` resets it",
            )
        self._save(entry)

    def _judge(self, entry: dict[str, Any], change: ModelChange, track: str) -> bool:
        """Wait, analyse `track`; True on pass. On failure the entry moves to rollback."""
        assert self.prometheus is not None  # checked before the rollout (re)started
        rollout = change.new_model.rollout
        interval = rollout.interval_seconds
        attempt, result = 0, None
        while attempt <= self.traffic_waits:
            attempt += 1
            self._wait(entry, interval)
            window = window_from_seconds(interval * attempt)
            result = analyse(
                self.prometheus,
                change.model,
                rollout.analysis,
                window,
                at=self.clock(),
                track=track,
            )
            entry.update(last_analysis=result.to_json(), updated_at=record.iso(self.clock()))
            self._save(entry)
            self._emit(
                "analysis",
                entry,
                f"{change.model}: {record.where(entry)}: "
                f"{result.verdict}: {'; '.join(result.reasons)}",
            )
            if result.verdict != "insufficient_traffic":
                break
            if attempt <= self.traffic_waits:
                self._emit(
                    "waiting",
                    entry,
                    f"{change.model}: too little traffic to judge; "
                    f"waiting another {interval}s ({attempt}/{self.traffic_waits})",
                )
        assert result is not None
        if result.passed:
            return True
        self._fail(entry, result, attempt, track)
        return False

    def _fail(
        self, entry: dict[str, Any], result: AnalysisResult, attempts: int, track: str
    ) -> None:
        entry["failure"] = record.failure_text(entry, result, attempts, track)
        self._leave(entry, "rollback")

    def _finish(self, entry: dict[str, Any], change: ModelChange) -> RolloutResult:
        status, model = entry["status"], entry["model"]
        if status == "paused":
            self._emit("paused", entry, f"{model}: paused at {record.where(entry)}")
            return RolloutResult(model, entry["strategy"], status, entry)
        if self.record_revision and entry.get("revision") is None:
            outcome: Outcome = "applied" if status == "promoted" else "rolled-back"
            revision = RevisionStore(self.backend, self.deployment).record(
                outcome,
                change.new,
                entry.get("spec_text"),
                self.applier.outputs(),
                message=record.revision_message(entry),
            )
            entry["revision"] = revision.number
            self._save(entry)
        rev = f" (revision {entry['revision']})" if entry.get("revision") else ""
        self._emit(status, entry, f"{model}: {status.replace('-', ' ')}{rev}")
        if status == "rolled-back":
            raise record.rolled_back_error(entry)
        return RolloutResult(model, entry["strategy"], status, entry, entry.get("revision"))

    # --- record keeping ------------------------------------------------------------------------

    def _apply(self, entry: dict[str, Any], step: RolloutStep) -> None:
        """One engine update, with the record written before (engine: applying) and after."""
        entry.update(
            phase=step.phase,
            weights=step.weights,
            canary_replicas=step.canary_replicas,
            stable=step.stable,
            engine="applying",
            updated_at=record.iso(self.clock()),
        )
        if step.step_index is not None:
            entry["step_index"] = step.step_index
        self._save(entry)
        self._emit(
            "apply",
            entry,
            f"{step.model}: {record.where(entry)}: traffic stable "
            f"{step.weights['stable']}% / canary {step.weights['canary']}%",
        )
        self.applier.apply_step(step)
        entry.update(engine="applied", updated_at=record.iso(self.clock()))
        self._save(entry)

    def _enter_promote(self, entry: dict[str, Any], analyse: bool) -> None:
        entry.update(phase="promote", analyse_promotion=analyse)

    def _leave(self, entry: dict[str, Any], phase: str) -> None:
        """Head for rollback/abort, remembering where the rollout stood."""
        if entry["phase"] not in ("rollback", "abort"):
            entry["left_at"] = record.where(entry)
        entry["phase"] = phase

    def _open(self, model: str | None, verb: str) -> dict[str, Any]:
        entry = record.pick(self.backend, self.deployment, model)
        if entry.get("status") in record.FINAL:
            raise LlmctlError(
                f"the rollout of {entry['model']} is over ({entry['status']}); nothing to {verb}",
                hint="`llmctl history` lists the revisions; `llmctl rollback` restores one",
            )
        return entry

    def _restart(self, entry: dict[str, Any], kind: str) -> None:
        # A request left for a process that is gone must not stop this run at once.
        record.take_request(self.backend, self.deployment, entry["model"])
        entry.update(status="running", message="", updated_at=record.iso(self.clock()))
        self._save(entry)
        self._emit(kind, entry, f"{entry['model']}: {kind} at {record.where(entry)}")

    def _requested(self, entry: dict[str, Any], action: str) -> None:
        if entry["phase"] in ("rollback", "abort", "finalize"):
            return  # already on its way out: the request changes nothing
        if action == "pause":
            entry.update(status="paused", message=f"paused at {record.where(entry)}")
        elif action == "abort":
            self._leave(entry, "abort")
        elif action == "promote":
            self._enter_promote(entry, analyse=False)
        self._save(entry)

    def _interrupted(self, entry: dict[str, Any], exc: BaseException) -> None:
        doing = " while the engine was updating" if entry.get("engine") == "applying" else ""
        entry.update(status="interrupted", message=f"interrupted at {record.where(entry)}{doing}")
        # If this write fails too, the record from before this step still says where it was.
        with contextlib.suppress(KeyboardInterrupt, LlmctlError):
            self._save(entry)
        raise record.interrupted_error(entry) from exc

    def _wait(self, entry: dict[str, Any], seconds: float) -> None:
        """Sleep `seconds` in slices, acting on pause/abort/promote requests between them."""
        remaining = float(seconds)
        while remaining > 0:
            chunk = min(remaining, self.poll_seconds)
            self.sleep(chunk)
            remaining -= chunk
            self._check(entry)

    def _check(self, entry: dict[str, Any]) -> None:
        action = record.take_request(self.backend, self.deployment, entry["model"])
        if action is not None:
            self._emit("request", entry, f"{entry['model']}: {action} requested")
            raise _Requested(action)

    def _need_prometheus(self, model: str, strategy: str) -> None:
        if self.prometheus is None:
            raise record.no_prometheus_error(model, strategy)

    def _save(self, entry: dict[str, Any]) -> None:
        record.save(self.backend, self.deployment, entry)

    def _emit(self, kind: str, entry: dict[str, Any], message: str) -> None:
        if self.on_event is not None:
            self.on_event(RolloutEvent(kind, entry["model"], message, dict(entry)))


def run_rollout(
    store_backend: Backend,
    deployment_name: str,
    change: ModelChange,
    applier: StepApplier,
    prometheus: PrometheusClient | None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_event: Callable[[RolloutEvent], None] | None = None,
    spec_text: str | None = None,
    **options: Any,
) -> RolloutResult:
    """Roll `change` out (the caller holds the state lock); raises RolledBack (exit 4) on a
    failed analysis, Interrupted (exit 130) on Ctrl-C. `options`: see RolloutDriver."""
    driver = RolloutDriver(
        store_backend,
        deployment_name,
        applier,
        prometheus,
        clock=clock,
        sleep=sleep,
        on_event=on_event,
        **options,
    )
    return driver.start(change, spec_text)
