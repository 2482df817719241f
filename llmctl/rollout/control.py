"""The operations behind `llmctl rollout status|pause|resume|abort|promote` and `llmctl rollback`.

Who acts: a rollout runs in the process that holds the state lock (an apply, or a resume). When
another process holds it and the rollout is running, `pause`, `abort` and `promote` are handed to
that process through the control record (it acts between sleeps, within `POLL_SECONDS`);
otherwise this process takes the lock and acts itself (`resume` always does, and fails with exit
5 when the lock is held).

A rollback re-applies a stored revision's IR as one plain apply through the engine (no canary:
it returns to a version that was running before), then records a new revision that says which one
it restored (`restored_from`). It refuses while a rollout is unfinished: abort that first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import Interrupted, LlmctlError, StateLocked
from llmctl.releases.backend import Backend
from llmctl.releases.lock import StateLock, read_lock
from llmctl.releases.revisions import Revision, RevisionStore, diff, same_deployed
from llmctl.rollout import record
from llmctl.rollout.driver import RolloutDriver, RolloutResult

if TYPE_CHECKING:
    from llmctl.engine.runner import Applier

ROLLOUT_ACTIONS = ("pause", "resume", "abort", "promote")


@dataclass(frozen=True)
class ControlOutcome:
    """What `rollout pause|resume|abort|promote` did: acted here, or asked the running process."""

    action: str
    model: str
    requested: bool  # True: handed to the process running the rollout
    entry: dict[str, Any] = field(repr=False)
    result: RolloutResult | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of the control commands (may only grow)."""
        return {
            "action": self.action,
            "model": self.model,
            "requested": self.requested,
            "rollout": {**record.public(self.entry), "where": record.where(self.entry)},
        }


def rollout_status(backend: Backend, deployment: str, model: str | None = None) -> dict[str, Any]:
    """Every model's rollout (or `model`'s), and who holds the state lock right now."""
    rollouts = record.load_all(backend, deployment)
    if model is not None and model not in rollouts:
        raise LlmctlError(
            f"{deployment} has no rollout of {model}",
            hint="`llmctl rollout status` lists the rollouts",
        )
    chosen = [rollouts[m] for m in sorted(rollouts) if model is None or m == model]
    return {
        "deployment": deployment,
        "lock": read_lock(backend, deployment),
        "rollouts": [{**record.public(e), "where": record.where(e)} for e in chosen],
    }


def control_rollout(
    backend: Backend,
    deployment: str,
    action: str,
    model: str | None,
    make_driver: Callable[[dict[str, Any]], RolloutDriver],
    clock: Callable[[], float] = time.time,
) -> ControlOutcome:
    """Pause, resume, abort or promote the rollout `model` names (or the only unfinished one)."""
    if action not in ROLLOUT_ACTIONS:
        raise ValueError(f"action must be one of {ROLLOUT_ACTIONS}")
    entry = record.pick(backend, deployment, model)
    name = entry["model"]
    if entry.get("status") in record.FINAL:
        raise LlmctlError(
            f"the rollout of {name} is over ({entry['status']}); nothing to {action}",
            hint="`llmctl rollback` restores an earlier revision",
        )
    lock = StateLock(backend, deployment, f"rollout {action}")
    try:
        lock.acquire()
    except StateLocked:
        if action == "resume" or entry.get("status") != "running":
            raise
        record.request(backend, deployment, name, action, clock())
        return ControlOutcome(action, name, True, entry)
    try:
        if action == "pause":
            entry.update(
                status="paused",
                message=f"paused at {record.where(entry)}",
                updated_at=record.iso(clock()),
            )
            record.save(backend, deployment, entry)
            return ControlOutcome(action, name, False, entry)
        result = getattr(make_driver(entry), action)(name)
        return ControlOutcome(action, name, False, result.entry, result)
    finally:
        lock.release()


@dataclass(frozen=True)
class RollbackPlan:
    """The revision a rollback restores, the one deployed now, and what would change."""

    target: Revision
    current: Revision | None
    changes: list[str]

    @property
    def unchanged(self) -> bool:
        """The target deploys exactly what runs now: a rollback would record a no-op."""
        return self.current is not None and same_deployed(self.target, self.current)


def plan_rollback(backend: Backend, deployment: str, to: int | None = None) -> RollbackPlan:
    """Revision `to` (default: the previous good one) and its difference from what runs now."""
    store = RevisionStore(backend, deployment)
    current = store.latest("applied")
    if to is None:
        target = store.previous_good()
        if target is None:
            raise LlmctlError(
                f"{deployment} has no earlier applied revision to roll back to",
                hint="`llmctl history` lists the revisions; pass --to N to pick one",
            )
    else:
        target = store.get(to)
        if target.outcome != "applied":
            raise LlmctlError(
                f"revision {to} of {deployment} was {target.outcome}, never running",
                hint="roll back to an applied revision (`llmctl history`)",
            )
    target.load_ir()  # refuse an IR this llmctl cannot read before asking anything
    return RollbackPlan(target, current, diff(current, target) if current else [])


def restore_revision(
    backend: Backend, deployment: str, target: Revision, runner: Applier
) -> Revision:
    """Re-apply `target`'s release (its IR and the very images it ran) through `runner` (the
    engine's StackRunner) and record it as a new revision (restored_from=target.number)."""
    store = RevisionStore(backend, deployment)
    with StateLock(backend, deployment, "rollback"):
        busy = record.unfinished(backend, deployment)
        if busy:
            names = ", ".join(e["model"] for e in busy)
            raise LlmctlError(
                f"{deployment} has an unfinished rollout ({names}); a rollback would fight it",
                hint="`llmctl rollout abort` first (or `llmctl rollout resume` to finish it)",
            )
        try:
            run = runner.apply(target.release, store.latest("applied"))
        except (LlmctlError, KeyboardInterrupt) as exc:
            what = "interrupted" if isinstance(exc, KeyboardInterrupt | Interrupted) else "failed"
            store.record(
                "failed",
                target.release,
                None,
                {},
                restored_from=target.number,
                message=f"rollback to revision {target.number} {what}",
            )
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(
                    f"the rollback to revision {target.number} was interrupted",
                    hint=f"run `llmctl rollback --to {target.number}` again to finish it",
                ) from exc
            raise
        return store.record(
            "applied",
            target.release,
            None,
            run.record(),
            restored_from=target.number,
            message=f"rollback to revision {target.number}",
        )
