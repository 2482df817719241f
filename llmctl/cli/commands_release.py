"""Commands over the recorded releases: history, rollback, and `rollout status|pause|resume|abort|
promote`. Each reads the deployment's state backend, found from llm.yaml (-f) or, without the
spec file, from --name and --state.

Exit codes: 0 done, 1 error, 4 a resumed rollout failed its analysis and was rolled back,
5 the state is locked by another operation, 130 interrupted (the message says how to resume).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmctl.cli import output

if TYPE_CHECKING:
    from llmctl.releases.backend import Backend
    from llmctl.rollout.driver import RolloutDriver, RolloutEvent

SpecFile = Annotated[
    Path | None, typer.Option("-f", "--file", help="The spec file (default: ./llm.yaml).")
]
NameOpt = Annotated[
    str | None, typer.Option("--name", help="Deployment name, to read the state without the spec.")
]
StateOpt = Annotated[
    str | None,
    typer.Option("--state", help="State URL with --name (default: file://$LLMCTL_HOME/state)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="The model (default: the one unfinished rollout).")
]

rollout_app = typer.Typer(
    name="rollout",
    help="Progressive rollouts: status, pause, resume, abort, promote.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add history, rollback and the `rollout` group to the root app."""
    app.command()(history)
    app.command()(rollback)
    for command in (status, pause, resume, abort, promote):
        rollout_app.command()(command)
    app.add_typer(rollout_app, name="rollout")


def target(file: Path | None, name: str | None, state: str | None) -> tuple[Backend, str]:
    """The state backend and deployment name: from --name/--state, else from the spec file."""
    from llmctl.errors import LlmctlError
    from llmctl.releases.backend import deployment_key, open_backend

    if name is not None:
        if file is not None:
            raise LlmctlError("pass either -f or --name/--state, not both")
        try:
            deployment_key(name)
        except ValueError:
            raise LlmctlError(
                f"invalid deployment name {name!r}",
                hint="the `name:` of llm.yaml: lower-case letters, digits and -",
            ) from None
        if state is None:
            from llmctl.home import default_state_url

            state = default_state_url()
        return open_backend(state), name
    if state is not None:
        raise LlmctlError("--state needs --name", hint="or pass -f llm.yaml, which names both")
    path = file or Path("llm.yaml")
    if not path.exists():
        raise LlmctlError(
            f"{path} not found",
            hint="pass -f llm.yaml, or --name NAME [--state URL] to read the state without it",
        )
    from llmctl.compile import compile_file
    from llmctl.engine.backend import state_url

    deployment = compile_file(path).deployment
    return open_backend(state_url(deployment)), deployment.name


def history(
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Newest N only.")] = None,
    json: JsonFlag = False,
) -> None:
    """Revisions newest first, with what each changed from the applied one before it."""
    from llmctl.releases.revisions import RevisionStore

    backend, deployment = target(file, name, state)
    store = RevisionStore(backend, deployment)
    entries = store.history(limit)
    skipped = [f"skipped revision {n}: {why}" for n, why in sorted(store.skipped.items())]
    if json:
        output.print_json(
            {
                "deployment": deployment,
                "revisions": [{**rev.summary(), "changes": changes} for rev, changes in entries],
                "warnings": skipped,
            }
        )
        return
    for line in skipped:
        output.console(stderr=True).print(f"warning: {line}", style="yellow", markup=False)
    con = output.console()
    if not entries:
        con.print(f"{deployment}: no revisions yet (`llmctl apply` records one)", markup=False)
        return
    for rev, changes in entries:
        commit = (rev.git_commit or "-")[:12]
        restored = f", restores {rev.restored_from}" if rev.restored_from else ""
        style = {"applied": "green", "rolled-back": "yellow", "failed": "red"}.get(rev.outcome)
        con.print(
            f"{rev.number:>4}  {rev.created_at}  {rev.outcome:<11}  {rev.user}  {commit}{restored}",
            style=style,
            markup=False,
        )
        if rev.message:
            con.print(f"      {rev.message}", markup=False)
        for line in changes or ["(no change)"]:
            con.print(f"      {line}", markup=False)


def rollback(
    to: Annotated[
        int | None,
        typer.Option("--to", help="Revision to restore (default: the previous good one)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """Re-apply a recorded revision's IR (no spec file needed); recorded as a new revision."""
    from llmctl.errors import LlmctlError
    from llmctl.rollout.control import plan_rollback, restore_revision

    backend, deployment = target(file, name, state)
    plan = plan_rollback(backend, deployment, to)
    number = plan.target.number
    if plan.unchanged and plan.current is not None:
        # Nothing would change: record nothing (a no-op revision only clutters the history).
        message = (
            f"{deployment}: revision {number} is what runs now (revision {plan.current.number}); "
            "nothing to roll back"
        )
        if json:
            output.print_json(
                {"deployment": deployment, "restored_from": None, "revision": None, "changes": []}
            )
        else:
            output.console().print(message, markup=False)
        return
    if not json:
        con = output.console()
        now = f" (now revision {plan.current.number})" if plan.current else ""
        con.print(f"{deployment}: roll back to revision {number}{now}", markup=False)
        for line in plan.changes or ["(no change to the deployed IR)"]:
            con.print(f"  {line}", markup=False)
    if not yes:
        if not sys.stdin.isatty():
            raise LlmctlError("rollback needs confirmation", hint="pass --yes")
        if not typer.confirm(f"Roll {deployment} back to revision {number}?"):
            output.console(stderr=True).print("rollback cancelled", markup=False)
            raise typer.Exit(1)
    from llmctl.cli.progress import ProgressReporter
    from llmctl.engine.runner import StackRunner

    with ProgressReporter(tty=sys.stdout.isatty() and not json, stderr=json) as reporter:
        runner = StackRunner(on_progress=reporter.event)
        revision = restore_revision(backend, deployment, plan.target, runner)
    if json:
        output.print_json(
            {
                "deployment": deployment,
                "restored_from": number,
                "revision": revision.summary(),
                "changes": plan.changes,
            }
        )
        return
    output.console().print(
        f"revision {revision.number}: restored revision {number}", style="green", markup=False
    )


def status(
    model: ModelOpt = None,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """Where each model's rollout stands, its last analysis, and who holds the state lock."""
    from llmctl.rollout.control import rollout_status

    backend, deployment = target(file, name, state)
    report = rollout_status(backend, deployment, model)
    if json:
        output.print_json(report)
        return
    con = output.console()
    if not report["rollouts"]:
        con.print(f"{deployment}: no rollouts", markup=False)
    for entry in report["rollouts"]:
        con.print(
            f"{entry['model']}  {entry['strategy']}  {entry['status']}  {entry['where']}  "
            f"({entry['old_identity']} -> {entry['new_identity']}, started "
            f"{entry['started_at']} by {entry['user']})",
            markup=False,
        )
        analysis = entry.get("last_analysis")
        if analysis:
            con.print(
                f"  last analysis ({analysis['track']}, {analysis['window']}): "
                f"{analysis['verdict']}: {'; '.join(analysis['reasons'])}",
                markup=False,
            )
        for note in (entry.get("failure"), entry.get("message")):
            if note:
                con.print(f"  {note}", markup=False)
        if entry["status"] in ("paused", "interrupted", "failed"):
            con.print(
                f"  `llmctl rollout resume --model {entry['model']}` continues; "
                f"`llmctl rollout abort --model {entry['model']}` returns its traffic to "
                "the stable version",
                markup=False,
            )
    lock = report["lock"]
    if lock:
        con.print(
            f"lock: held by {lock.get('user', '?')}@{lock.get('host', '?')} "
            f"({lock.get('operation', '?')}, since {lock.get('created_at', '?')})",
            markup=False,
        )


def _control(
    action: str,
    model: str | None,
    file: Path | None,
    name: str | None,
    state: str | None,
    json: bool,
) -> None:
    from llmctl.rollout.control import control_rollout

    backend, deployment = target(file, name, state)
    con = output.console(stderr=json)

    def on_event(event: RolloutEvent) -> None:
        con.print(event.message, markup=False)

    def make_driver(entry: dict[str, Any]) -> RolloutDriver:
        return _driver(backend, deployment, entry, on_event)

    outcome = control_rollout(backend, deployment, action, model, make_driver)
    if json:
        output.print_json(outcome.to_json())
        return
    if outcome.requested:
        con.print(
            f"{outcome.model}: {action} requested; the process running the rollout acts "
            "on it within seconds (`llmctl rollout status` shows it)",
            markup=False,
        )
    elif action == "pause":
        con.print(
            f"{outcome.model}: paused at {outcome.to_json()['rollout']['where']}", markup=False
        )


def _driver(
    backend: Backend, deployment: str, entry: dict[str, Any], on_event: Any
) -> RolloutDriver:
    """A driver with the engine's StackRunner as its step applier and the Prometheus the
    rollout's new release names (or $LLMCTL_PROMETHEUS_URL). The images are the ones the
    rollout's apply recorded in its entry: a resume deploys what the rollout started with."""
    from llmctl.engine.rollouts import prometheus_url
    from llmctl.engine.runner import StackRunner
    from llmctl.metrics import PrometheusClient
    from llmctl.releases.revisions import RevisionStore
    from llmctl.rollout.driver import RolloutDriver
    from llmctl.rollout.engine_applier import EngineStepApplier
    from llmctl.rollout.record import change_of

    url = prometheus_url(change_of(entry).new.deployment)
    prometheus = PrometheusClient(url) if url else None
    applier = EngineStepApplier(StackRunner(), RevisionStore(backend, deployment))
    return RolloutDriver(backend, deployment, applier, prometheus, on_event=on_event)


def pause(
    model: ModelOpt = None,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """Stop a rollout at its current step (traffic split kept); `resume` continues it."""
    _control("pause", model, file, name, state, json)


def resume(
    model: ModelOpt = None,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """Continue a paused or interrupted rollout from its recorded step. Exit 4 if rolled back."""
    _control("resume", model, file, name, state, json)


def abort(
    model: ModelOpt = None,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """All traffic back to the stable version, the canary removed; recorded as rolled back."""
    _control("abort", model, file, name, state, json)


def promote(
    model: ModelOpt = None,
    file: SpecFile = None,
    name: NameOpt = None,
    state: StateOpt = None,
    json: JsonFlag = False,
) -> None:
    """Skip the remaining steps and their analysis: make the new version the stable one now."""
    _control("promote", model, file, name, state, json)
