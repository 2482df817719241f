"""Commands that reach the engine: plan, apply, status, destroy, doctor, unlock.

Each parses its flags, makes one call into llmctl.engine.lifecycle and renders the result:
JSON on request (stable shapes), otherwise plan symbols like Terraform's, a progress bar on a
TTY and plain lines in CI logs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmctl.cli import output
from llmctl.cli.commands_spec import JsonFlag, SpecFile
from llmctl.cli.plan_view import OFFLINE_BANNER, print_plan, stack_location  # noqa: F401
from llmctl.cli.progress import ProgressReporter
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY, IMAGE_REPOSITORY_ENV

if TYPE_CHECKING:  # importing these at start-up would slow `llmctl --help`
    from llmctl.plan import Plan

YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required without a TTY.")]


def register(app: typer.Typer) -> None:
    """Add the deploy commands to the root app."""
    app.command()(plan)
    app.command()(apply)
    app.command()(status)
    app.command()(destroy)
    app.command()(doctor)
    app.command()(unlock)


ImageRepo = Annotated[
    str,
    typer.Option(
        "--image-repository",
        envvar=IMAGE_REPOSITORY_ENV,
        help="Where the serving image was pushed (`llmctl image build --repository R --push`), "
        "e.g. the ECR repository the AWS stack creates.",
    ),
]


def plan(
    file: SpecFile = Path("llm.yaml"),
    json: JsonFlag = False,
    image_repository: ImageRepo = DEFAULT_IMAGE_REPOSITORY,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 1: error.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Run the stack programs under mocks; no Pulumi CLI or cloud access."
        ),
    ] = False,
) -> None:
    """Show what apply would change, per stack, with the cost delta."""
    from llmctl.compile import compile_file
    from llmctl.engine import lifecycle

    compiled = compile_file(file)
    with _spinner(not json, f"planning {compiled.deployment.name}"):
        result = lifecycle.plan(
            compiled, offline=True if offline else None, image_repository=image_repository
        )
    if json:
        output.print_json(result.to_json())
    else:
        output.print_diagnostics(compiled.warnings, compiled.source.text)
        print_plan(result, compiled.deployment, extra_warnings=len(compiled.warnings))
    lifecycle.enforce_budget(result)
    if detailed_exitcode:
        raise typer.Exit(2 if result.has_changes else 0)


def apply(
    file: SpecFile = Path("llm.yaml"),
    yes: YesFlag = False,
    json: JsonFlag = False,
    image_repository: ImageRepo = DEFAULT_IMAGE_REPOSITORY,
) -> None:
    """Preview, confirm, and apply llm.yaml; records a revision. No TTY needs --yes."""
    from llmctl.engine import lifecycle
    from llmctl.errors import LlmctlError

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not yes and not interactive:  # before anything else: never hang waiting for an answer
        raise LlmctlError(lifecycle.NO_TTY, hint="pass --yes (in CI), or run apply in a terminal")
    from llmctl.compile import compile_file

    compiled = compile_file(file)
    d = compiled.deployment
    if not json:
        output.print_diagnostics(compiled.warnings, compiled.source.text)
    reporter = ProgressReporter(tty=sys.stdout.isatty() and not json, stderr=json)
    shown: list[Plan] = []

    def show(result: Plan) -> None:
        shown.append(result)
        if not json:
            print_plan(result, d, extra_warnings=len(compiled.warnings))
        reporter.expect(sum(1 for s in result.stacks for r in s.resources if r.op != "same"))

    def confirm(result: Plan) -> bool:
        return typer.confirm("Apply these changes?", default=False)

    from llmctl.engine.backend import last_applied, open_state

    # apply returns the last revision unchanged when there is nothing to do, a new one otherwise
    before = last_applied(open_state(d))
    with reporter:
        revision = lifecycle.apply(
            compiled,
            yes=yes,
            interactive=interactive,
            on_progress=reporter.event,
            confirm=confirm,
            show_plan=show,
            image_repository=image_repository,
            on_rollout_event=lambda e: output.console(stderr=json).print(
                f"rollout {e.model}: {e.message}", markup=False
            ),
        )
    changed = bool(shown) and shown[0].has_changes
    if json:
        output.print_json(
            {
                "revision": revision.number,
                "outcome": revision.outcome,
                "changed": changed,
                "endpoints": revision.outputs.get("endpoints", {}),
                "image_tags": revision.image_tags,
                "images": revision.release.images,
            }
        )
        return
    done = f"Applied: revision {revision.number} ({revision.outcome})."
    if not changed and (before is None or revision.number > before.number):
        # e.g. only the budget changed: recorded, but no resource changed
        done = f"Recorded revision {revision.number}: the spec changed, no resource did."
    elif not changed:
        done = f"Nothing to apply: revision {revision.number} is current."
    output.console().print(done, markup=False)
    for cluster, endpoint in sorted((revision.outputs.get("endpoints") or {}).items()):
        output.console().print(f"  endpoint {cluster}: {endpoint}", markup=False)


def status(file: SpecFile = Path("llm.yaml"), json: JsonFlag = False) -> None:
    """Endpoints, node groups and replicas per model and placement (live, or the last apply)."""
    from llmctl.compile import compile_file
    from llmctl.engine import lifecycle

    result = lifecycle.status(compile_file(file))
    if json:
        output.print_json(result.to_json())
        return
    con = output.console()
    rev = result.revision
    head = f"{result.deployment}: " + (
        f"revision {rev.number} by {rev.user} at {rev.created_at}" if rev else "never applied"
    )
    con.print(
        head + ("" if result.in_sync or not rev else " (llm.yaml has changed since)"),
        markup=False,
    )
    con.print(f"source: {STATUS_SOURCES.get(result.source, result.source)}", markup=False)
    for c in result.clusters:
        where = c.region or c.context or "current context"
        con.print(
            f"  cluster {c.name} ({c.provider}, {where}): endpoint {c.endpoint or '-'}",
            markup=False,
        )
    for g in result.node_groups:
        kind = g.instance_type or f"{g.gpus_per_node}x {g.gpu_model}"
        con.print(
            f"  pool {g.key}: {kind}, nodes {g.min_nodes}..{g.max_nodes}, {'/'.join(g.capacity)}",
            markup=False,
        )
    for m in result.models:
        for p in m.placements:
            lo, hi = p.desired_min, p.desired_max
            desired = str(lo) if lo == hi else f"{lo}..{hi}"
            state = {"none": "not deployed", "last-apply": "ready unknown (not live)"}.get(
                p.source,
                "not found in the cluster" if p.ready is None else f"{p.ready} ready",
            )
            con.print(
                f"  model {m.name} on {p.pool} ({p.traffic}): {state}, desired {desired}",
                markup=False,
            )


STATUS_SOURCES = {
    "live": "live, from the clusters",
    "last-apply": "the last apply (the clusters were not reachable from here)",
    "none": "nothing applied yet (`llmctl apply` deploys it)",
    "mixed": "live where a cluster answered, the last apply elsewhere",
}


def destroy(file: SpecFile = Path("llm.yaml"), yes: YesFlag = False) -> None:
    """Delete everything the deployment created. Revisions stay for `llmctl history`."""
    from llmctl.compile import compile_file
    from llmctl.engine import lifecycle

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    d = compile_file(file).deployment

    def confirm(stacks: list[str]) -> bool:
        output.console().print(f"This deletes every resource of: {', '.join(stacks)}", markup=False)
        return typer.confirm(f"Destroy {d.name}?", default=False)

    reporter = ProgressReporter(tty=sys.stdout.isatty(), stderr=False)
    with reporter, _without_offline_tip():
        gone = lifecycle.destroy(
            d, yes=yes, interactive=interactive, on_progress=reporter.event, confirm=confirm
        )
    output.console().print(
        f"Destroyed {len(gone)} stack(s): {', '.join(gone) or 'none found'}.", markup=False
    )


def doctor(
    file: Annotated[
        Path | None,
        typer.Option(
            "-f", "--file", help="Check what this spec needs. [default: llm.yaml, if present]"
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Check the Pulumi CLI and plugins, AWS credentials, kubeconfig and the image builder."""
    from llmctl.engine import lifecycle
    from llmctl.engine.doctor import Check
    from llmctl.errors import SpecInvalid

    deployment = None
    spec_checks: list[Check] = []
    path = file if file is not None else Path("llm.yaml")
    if file is not None or path.is_file():
        from llmctl.compile import compile_file

        try:
            deployment = compile_file(path).deployment
            spec_checks.append(Check("spec", True, f"{path}: checking what it needs"))
        except SpecInvalid as exc:
            spec_checks.append(
                Check("spec", False, f"{path}: {exc.message}", f"run `llmctl validate -f {path}`")
            )
    checks = spec_checks + lifecycle.doctor(deployment)
    ok = not any(c.blocking for c in checks)
    if json:
        output.print_json({"ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        con = output.console()
        for c in checks:
            label = "ok  " if c.ok else ("warn" if c.optional else "FAIL")
            con.print(
                f"{label}  {c.name}: {c.detail}",
                style=None if c.ok else ("yellow" if c.optional else "red"),
                markup=False,
            )
            if not c.ok and c.fix:
                con.print(f"      fix: {c.fix}", markup=False)
    if not ok:
        raise typer.Exit(1)


def unlock(
    file: SpecFile = Path("llm.yaml"),
    force: Annotated[
        bool, typer.Option("--force", help="Remove the lock, whoever holds it.")
    ] = False,
) -> None:
    """Show who holds the state lock; with --force, remove it (after checking nobody runs).

    A spec with errors still names the deployment and its state: then only llmctl's own lock
    is checked (Pulumi's stack locks need the clusters, which a valid spec gives)."""
    from llmctl.compile import compile_file
    from llmctl.engine import lifecycle
    from llmctl.errors import SpecInvalid

    try:
        d = compile_file(file).deployment
    except SpecInvalid as invalid:
        _unlock_by_name(file, force, invalid)
        return
    with _without_offline_tip():
        result = lifecycle.unlock(d, force=force)
    con = output.console()
    holder = result.lock
    who = (
        (
            f"{holder.get('user', '?')}@{holder.get('host', '?')} ({holder.get('operation', '?')}, "
            f"since {holder.get('created_at', '?')})"
        )
        if holder
        else ""
    )
    if not force:
        con.print(
            f"{d.name} is locked by {who}" if holder else f"{d.name} is not locked", markup=False
        )
        if holder:
            con.print("  hint: if that process is gone, run `llmctl unlock --force`", markup=False)
        return
    con.print(
        f"removed the lock held by {who}" if result.removed else "there was no lock",
        markup=False,
    )
    for stack in result.cancelled:
        con.print(f"cancelled the Pulumi update of {stack}", markup=False)


def _unlock_by_name(file: Path, force: bool, invalid: Exception) -> None:
    """`unlock` for a spec that does not validate: its `name:` and `state:` are enough."""
    from llmctl.compile import resolve_state_url
    from llmctl.home import default_state_url
    from llmctl.releases.backend import deployment_key, open_backend
    from llmctl.releases.lock import force_unlock, read_lock
    from llmctl.spec.loader import read_source

    data = read_source(file).data  # a YAML syntax error is still an error
    name, state = data.get("name"), data.get("state")
    try:
        deployment_key(str(name))
    except ValueError:
        raise invalid from None  # not even a name: the spec's own errors say what to fix
    url = resolve_state_url(state, str(file)) if isinstance(state, str) else None
    backend = open_backend(url or default_state_url())
    holder = force_unlock(backend, name) if force else read_lock(backend, name)
    con = output.console()
    con.print(
        f"{file} has errors (`llmctl validate` shows them); checked llmctl's lock only, not "
        "Pulumi's stack locks",
        markup=False,
    )
    who = f"{holder.get('user', '?')}@{holder.get('host', '?')}" if holder else ""
    if force:
        con.print(
            f"removed the lock held by {who}" if holder else "there was no lock", markup=False
        )
    else:
        con.print(f"{name} is locked by {who}" if holder else f"{name} is not locked", markup=False)


@contextlib.contextmanager
def _without_offline_tip() -> Iterator[None]:
    """A missing Pulumi CLI: an offline plan is no way to destroy or unlock, so say only how to
    install it."""
    from llmctl.engine.workspace import OFFLINE_TIP
    from llmctl.errors import EngineMissing

    try:
        yield
    except EngineMissing as exc:
        exc.hint = exc.hint.replace(OFFLINE_TIP, "")
        raise


def _spinner(show: bool, text: str) -> Any:
    """A rich spinner on a terminal (stderr), nothing in CI logs or with --json."""
    if show and sys.stderr.isatty():
        return output.console(stderr=True).status(text)
    return contextlib.nullcontext()
