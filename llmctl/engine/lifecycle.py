"""The library behind the deploy commands: one function per command (plan, apply, destroy, unlock;
status and doctor live in their own modules and are re-exported here).

PLAN runs the real stack programs. Offline (`--offline`, or no Pulumi CLI) they run under
Pulumi's mocks and their resource set is diffed against the one the last apply recorded; online
the engine previews every stack against its real state. APPLY works out the Release (the IR, the
image of every model, the state URL), holds the state lock, previews, asks, hands the Release to
the engine's one entry point (`llmctl.engine.runner.StackRunner.apply`) and records a revision
holding that Release either way; what a revision's `outputs` hold is in runner.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmctl.compile import Compiled
from llmctl.engine import workspace
from llmctl.engine.backend import last_applied, open_state
from llmctl.engine.budget import enforce_budget, price
from llmctl.engine.doctor import Check, doctor
from llmctl.engine.rollouts import roll_out, sequenced, staged_changes
from llmctl.engine.runner import StackRunner, collect, engine_config, recorded, stack_defs
from llmctl.engine.status import status
from llmctl.engine.workspace import OnProgress
from llmctl.errors import EngineMissing, Interrupted, LlmctlError
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY
from llmctl.ir import Deployment
from llmctl.plan import Baseline, Plan, ResourceChange, StackPlan, diff_resources
from llmctl.release import make_release
from llmctl.releases.backend import delete_record, write_record
from llmctl.releases.lock import StateLock, force_unlock, read_lock
from llmctl.releases.revisions import Revision, current_user
from llmctl.render.image_builds import build_warning, images_to_build
from llmctl.rollout import record as rollout_record

__all__ = [
    "Check",
    "UnlockResult",
    "enforce_budget",
    "price",
    "apply",
    "destroy",
    "doctor",
    "plan",
    "status",
    "unlock",
]

NO_TTY = "refusing to apply without --yes: no terminal to confirm on"
NO_PULUMI = "Pulumi CLI not found; `llmctl doctor` says how to install it"
ConfirmFn = Callable[[Plan], bool]


def plan(
    compiled: Compiled,
    offline: bool | None = None,
    *,
    pulumi_command: Any = None,
    on_progress: OnProgress | None = None,
    image_repository: str = DEFAULT_IMAGE_REPOSITORY,
) -> Plan:
    """What an apply would change. `offline` None: offline only when no Pulumi CLI is found."""
    d = compiled.deployment
    reason = "--offline" if offline else ""
    if offline is None:
        try:
            pulumi_command = workspace.pulumi_command(pulumi_command)
            offline = False
        except EngineMissing as exc:
            offline = True
            reason = NO_PULUMI if "not on PATH" in exc.message else exc.message
    warnings = [
        f"{w.location()}: {w.message}" if w.location() else w.message for w in compiled.warnings
    ]
    state = open_state(d)
    try:
        last = last_applied(state)
        baseline = Baseline(last.number if last is not None else None)
    except LlmctlError as exc:
        if not offline:
            raise
        # A PR check may have no access to a shared state: plan against nothing, and say so.
        baseline = Baseline(None, unreadable=exc.message)
        warnings.append(baseline.warning)
        last = None
    release = make_release(d, image_repository, state_url=state.url)
    for image in images_to_build(d, release.images):  # an apply would need them
        warnings.append(build_warning(image, compiled.source.file, image_repository))
    defs = stack_defs(release, recorded(last, "endpoints"), require=False)
    if offline:
        stacks = [
            StackPlan(s.name, s.cluster, diff_resources(collect(s), _baseline(last, s.name)))
            for s in defs
        ]
    else:
        config = engine_config(d.name, state.url, pulumi_command)
        stacks = [
            StackPlan(
                s.name,
                s.cluster,
                workspace.preview(workspace.open_stack(s.name, s.program, config), on_progress),
            )
            for s in defs
        ]
    result = Plan(
        offline=offline,
        stacks=stacks + _removed(defs, last),
        warnings=warnings,
        reason=reason,
        addons={c.name: [a.describe() for a in c.addons] for c in d.clusters if c.addons},
        baseline=baseline,
    )
    price(result, d, last)
    return result


def apply(
    compiled: Compiled,
    yes: bool,
    interactive: bool,
    on_progress: OnProgress | None = None,
    *,
    confirm: ConfirmFn | None = None,
    show_plan: Callable[[Plan], None] | None = None,
    pulumi_command: Any = None,
    image_repository: str = DEFAULT_IMAGE_REPOSITORY,
    on_rollout_event: Callable[[Any], None] | None = None,
    rollout_options: dict[str, Any] | None = None,
) -> Revision:
    """Preview, confirm, update every stack in order and record the revision (also a failed one).

    Without `yes`, `confirm(plan)` must approve; with neither `yes` nor a terminal it refuses.
    Returns the last applied revision unchanged when there is nothing to do. A model whose
    serving identity changes goes through its rollout after the other changes are applied
    (RolledBack, exit 4, when its analysis fails).
    """
    if not yes and not interactive:
        raise LlmctlError(NO_TTY, hint="pass --yes (in CI), or run apply in a terminal")
    d = compiled.deployment
    state = open_state(d)
    release = make_release(d, image_repository, state_url=state.url)
    config = engine_config(d.name, state.url, pulumi_command)  # no CLI: fail before taking the lock
    runner = StackRunner(pulumi_command, on_progress)
    with StateLock(state.backend, d.name, "apply"):
        # An apply rewrites every stack, the routes' canary weights included: with a rollout
        # still under way it would pull traffic from under it. Refuse before the engine runs.
        pending = rollout_record.unfinished(state.backend, d.name)
        if pending:
            raise rollout_record.unfinished_error(pending[0])
        last = last_applied(state)
        staged, rollouts = staged_changes(last, release)
        defs = stack_defs(release, recorded(last, "endpoints"), require=True)
        for s in defs:
            collect(s)  # fails fast on a missing API-key env
        stacks = {s.name: workspace.open_stack(s.name, s.program, config) for s in defs}
        result = Plan(
            offline=False,
            stacks=[
                StackPlan(s.name, s.cluster, workspace.preview(stacks[s.name]))  # progress: up only
                for s in defs
            ]
            + _removed(defs, last),
            warnings=[w.message for w in compiled.warnings],
        )
        price(result, d, last)
        enforce_budget(result)
        if show_plan is not None:
            show_plan(result)
        if last is not None and not result.has_changes and last.release.same_as(release):
            return last
        if not yes and not (confirm is not None and confirm(result)):
            raise LlmctlError("apply cancelled; nothing was changed")
        # Serving changes go through their model's rollout: first everything else, with those
        # models still at the identity (and image) they run now; then one rollout per model.
        message = f"rollout of {', '.join(c.model for c in rollouts)} follows" if rollouts else ""
        try:
            runner.apply(staged, last, opened=stacks)
            for name in _removed_names(defs, last):
                gone = workspace.open_stack(name, _no_program, config, create=False)
                if gone is not None:
                    workspace.destroy(gone, on_progress)
        except KeyboardInterrupt:  # between engine calls: nothing is half-done, but not finished
            failed = state.store.record(
                "failed", staged, compiled.source.text, runner.run.record(), message="interrupted"
            )
            raise Interrupted(
                "interrupted during apply, between two stacks",
                hint="run `llmctl apply` again to finish "
                f"(recorded as revision {failed.number}, outcome failed)",
            ) from None
        except LlmctlError as exc:
            failed = state.store.record(
                "failed", staged, compiled.source.text, runner.run.record(), message=exc.message
            )
            exc.hint = f"{exc.hint} (recorded as revision {failed.number}, outcome failed)"
            raise
        revision = state.store.record(
            "applied", staged, compiled.source.text, runner.run.record(), message=message
        )
        delete_record(state.backend, d.name, "destroyed")
        for change in sequenced(rollouts, staged):
            revision = roll_out(
                state,
                change,
                compiled.source.text,
                runner,
                on_rollout_event,
                **(rollout_options or {}),
            )
        return revision


def destroy(
    deployment: Deployment,
    yes: bool,
    interactive: bool = False,
    on_progress: OnProgress | None = None,
    *,
    confirm: Callable[[list[str]], bool] | None = None,
    pulumi_command: Any = None,
) -> list[str]:
    """Delete every resource of every stack (DNS first, clusters in reverse); the stacks destroyed.

    Revisions stay: the last one is marked destroyed, so plans start from nothing again.
    """
    if not yes and not interactive:
        raise LlmctlError(
            "refusing to destroy without --yes: no terminal to confirm on",
            hint="pass --yes (in CI), or run destroy in a terminal",
        )
    state = open_state(deployment)
    config = engine_config(deployment.name, state.url, pulumi_command)
    names = [f"{deployment.name}-{c.name}" for c in deployment.clusters]
    with StateLock(state.backend, deployment.name, "destroy"):
        last = state.store.latest("applied")
        recorded = list((last.outputs.get("stacks") or {}) if last else {})
        # spec order (the recorded JSON is key-sorted), then stacks of clusters since removed
        names = list(dict.fromkeys([*names, *recorded, f"{deployment.name}-dns"]))
        stacks = [(n, workspace.open_stack(n, _no_program, config, create=False)) for n in names]
        found = [(n, s) for n, s in stacks if s is not None]
        order = sorted(found, key=lambda ns: (not ns[0].endswith("-dns"), -names.index(ns[0])))
        if not yes and not (confirm is not None and confirm([n for n, _ in order])):
            raise LlmctlError("destroy cancelled; nothing was changed")
        for _, stack in order:
            workspace.destroy(stack, on_progress)
        write_record(
            state.backend,
            deployment.name,
            "destroyed",
            {
                "after_revision": last.number if last else 0,
                "user": current_user(),
                "stacks": [n for n, _ in order],
            },
        )
    return [n for n, _ in order]


@dataclass
class UnlockResult:
    """Who held the deployment's lock, whether it was removed, and the Pulumi locks cancelled."""

    lock: dict[str, Any] | None
    removed: bool = False
    cancelled: list[str] = field(default_factory=list)


def unlock(deployment: Deployment, force: bool, pulumi_command: Any = None) -> UnlockResult:
    """Who holds the deployment's lock; with `force`, remove it and cancel Pulumi's own locks."""
    state = open_state(deployment)
    result = UnlockResult(read_lock(state.backend, deployment.name))
    if not force:
        return result
    force_unlock(state.backend, deployment.name)
    result.removed = result.lock is not None
    try:
        config = engine_config(deployment.name, state.url, pulumi_command)
    except EngineMissing:
        return result  # no usable CLI here: it cannot have left a Pulumi lock from this machine
    for name in [f"{deployment.name}-{c.name}" for c in deployment.clusters] + [
        f"{deployment.name}-dns"
    ]:
        stack = workspace.open_stack(name, _no_program, config, create=False)
        if stack is not None and workspace.cancel(stack):
            result.cancelled.append(name)
    return result


def _baseline(last: Revision | None, stack: str) -> dict[str, Any] | None:
    return recorded(last, "resources").get(stack)


def _removed_names(defs: list[Any], last: Revision | None) -> list[str]:
    """Stacks the last apply had that the spec no longer makes (a cluster was removed)."""
    names = {s.name for s in defs}
    return [n for n in recorded(last, "resources") if n not in names]


def _removed(defs: list[Any], last: Revision | None) -> list[StackPlan]:
    stacks_info = recorded(last, "stacks")
    out = []
    for name in _removed_names(defs, last):
        cluster = (stacks_info.get(name) or {}).get("cluster", "")
        keys = [k.partition("::") for k in recorded(last, "resources")[name]]
        out.append(StackPlan(name, cluster, [ResourceChange(t, n, "delete") for t, _, n in keys]))
    return out


def _no_program() -> None:
    """The program of a stack opened only to destroy or cancel it: the state is enough."""
