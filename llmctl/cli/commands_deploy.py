"""Commands that reach the engine: plan, apply, status, destroy, doctor, unlock.

Each parses its flags, makes one call into llmctl.engine.lifecycle and renders the result:
JSON on request (stable shapes), otherwise plan symbols like Terraform's, a progress bar on a
TTY and plain lines in CI logs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmctl.cli import output
from llmctl.cli.commands_spec import JsonFlag, SpecFile
from llmctl.cli.progress import ProgressReporter

if TYPE_CHECKING:  # importing these at start-up would slow `llmctl --help`
    from llmctl.ir import Deployment
    from llmctl.plan import Plan

YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required without a TTY.")]
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
OFFLINE_BANNER = "offline: structural plan, no provider diff"


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
        envvar="LLMCTL_IMAGE_REPOSITORY",
        help="Where the serving image was pushed (`llmctl image build --repository R --push`), "
        "e.g. the ECR repository the AWS stack creates.",
    ),
]


def plan(
    file: SpecFile = Path("llm.yaml"),
    json: JsonFlag = False,
    image_repository: ImageRepo = "llmctl/vllm",
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
    image_repository: ImageRepo = "llmctl/vllm",
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
            }
        )
        return
    done = f"Applied: revision {revision.number} ({revision.outcome})."
    if not changed:
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
        output.print_json(result)
        return
    con = output.console()
    rev = result["revision"]
    head = f"{result['deployment']}: " + (
        f"revision {rev['number']} by {rev['user']} at {rev['created_at']}"
        if rev
        else "never applied"
    )
    con.print(
        head + ("" if result["in_sync"] or not rev else " (llm.yaml has changed since)"),
        markup=False,
    )
    con.print(f"source: {result['source']}", markup=False)
    for c in result["clusters"]:
        where = c["region"] or c["context"] or "current context"
        con.print(
            f"  cluster {c['name']} ({c['provider']}, {where}): endpoint {c['endpoint'] or '-'}",
            markup=False,
        )
    for g in result["node_groups"]:
        kind = g["instance_type"] or f"{g['gpus_per_node']}x {g['gpu']}"
        con.print(
            f"  pool {g['pool']}: {kind}, nodes {g['min_nodes']}..{g['max_nodes']}, "
            f"{'/'.join(g['capacity'])}",
            markup=False,
        )
    for m in result["models"]:
        for p in m["placements"]:
            ready = "?" if p["ready"] is None else str(p["ready"])
            want = p["desired"]
            desired = (
                str(want["min"]) if want["min"] == want["max"] else f"{want['min']}..{want['max']}"
            )
            con.print(
                f"  model {m['name']} on {p['pool']} ({p['traffic']}): "
                f"{ready} ready, desired {desired}",
                markup=False,
            )


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
    with reporter:
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
    """Show who holds the state lock; with --force, remove it (after checking nobody runs)."""
    from llmctl.compile import compile_file
    from llmctl.engine import lifecycle

    d = compile_file(file).deployment
    result = lifecycle.unlock(d, force=force)
    con = output.console()
    holder = result["lock"]
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
        f"removed the lock held by {who}" if result["removed"] else "there was no lock",
        markup=False,
    )
    for stack in result["cancelled"]:
        con.print(f"cancelled the Pulumi update of {stack}", markup=False)


def stack_location(deployment: Deployment, cluster: str) -> str:
    """`cluster aws, us-west-2` / `cluster onprem, context rack7` / `dns, zone example.com`."""
    if not cluster:
        return f"dns, zone {deployment.gateway.dns_zone}"
    c = next((c for c in deployment.clusters if c.name == cluster), None)
    if c is None:
        return f"cluster {cluster}, removed from llm.yaml"
    return f"cluster {c.name}, " + (
        c.region or "" if c.provider == "aws" else f"context {c.context or '(current)'}"
    )


def print_plan(result: Plan, deployment: Deployment, extra_warnings: int = 0) -> None:
    """The human plan (UX.md): banner, per-stack changes with symbols, totals, cost."""
    con = output.console()
    if result.offline:
        con.print(
            f"{OFFLINE_BANNER} ({result.reason})" if result.reason else OFFLINE_BANNER,
            style="yellow",
            markup=False,
        )
    changed_all = [r for s in result.stacks for r in s.resources if r.op != "same"]
    width = min(max((len(r.type) for r in changed_all), default=30), 56) + 1
    name_width = min(max((len(r.name) for r in changed_all), default=20), 48) + 1
    sym_width = 3 if any(r.op == "replace" for r in changed_all) else 1
    for s in result.stacks:
        changed = [r for r in s.resources if r.op != "same"]
        same = len(s.resources) - len(changed)
        tail = f", {same} unchanged" if same else ""
        con.print(
            f"\n  stack {s.name} ({stack_location(deployment, s.cluster)}){tail}",
            style="bold",
            markup=False,
        )
        for line in result.addons.get(s.cluster, []):
            con.print(f"    addon {line}", markup=False)
        if not changed:
            con.print("    no changes", markup=False)
        for r in changed:
            line = f"    {SYMBOLS[r.op]:<{sym_width}} {r.type:<{width}} {r.name:<{name_width}} {r.summary}"
            style = {"create": "green", "delete": "red"}.get(r.op, "yellow")
            con.print(line.rstrip(), style=style, markup=False)
    t = result.totals()
    if result.has_changes:
        con.print(
            f"\nPlan: {t['create'] + t['replace']} to create, {t['update']} to change, "
            f"{t['delete'] + t['replace']} to destroy.",
            markup=False,
        )
    else:
        con.print("\nNo changes: the deployment matches llm.yaml.", markup=False)
    for w in result.warnings[extra_warnings:]:
        output.console(stderr=True).print(f"warning: {w}", style="yellow", markup=False)
    if result.cost:
        print_cost(result.cost)


def print_cost(cost: dict[str, Any]) -> None:
    """The cost table of UX.md: pools and control planes, total with the budget, the change."""
    rows: list[tuple[str, dict[str, float], str]] = [
        (p["pool"], p["monthly_usd"], "") for p in cost.get("by_pool") or []
    ]
    for c in cost.get("by_cluster") or []:
        if fee := c.get("control_plane_usd"):
            rows.append((f"{c['cluster']} EKS control plane", dict.fromkeys(_SCENARIOS, fee), ""))
        if fee := c.get("system_usd"):
            rows.append((f"{c['cluster']} system nodes + NAT", dict.fromkeys(_SCENARIOS, fee), ""))
    budget = cost.get("budget") or {}
    note = f"budget {budget['monthly_usd']:,.0f} ({budget['status']})" if budget else ""
    rows.append(("total", cost["monthly_usd"], note))
    title = "Cost (USD / month)"
    width = max(max(len(label) for label, _, _ in rows) + 4, len(title) + 2)
    con = output.console()
    con.print(f"\n{title:<{width}}" + "".join(f"{s:>12}" for s in _SCENARIOS), markup=False)
    for label, m, note in rows:
        figures = "".join(f"{m[s]:>12,.0f}" for s in _SCENARIOS)
        con.print(f"  {label:<{width - 2}}{figures}    {note}".rstrip(), markup=False)
    since = "the applied revision" if cost.get("current_monthly_usd") else "nothing applied yet"
    delta = f"{cost.get('delta_monthly_usd', 0):+,.0f}"
    con.print(
        f"  {'change':<{width - 2}}{'':>12}{delta:>12}{'':>12}    expected, against {since}",
        markup=False,
    )
    for r in cost.get("rollouts") or []:
        con.print(
            f"  rollout of {r['model']} ({r['strategy']}): +{r['surge_monthly_usd']:,.0f} "
            "USD / month while its extra replicas run",
            markup=False,
        )
    if budget.get("status") not in (None, "ok"):
        con.print(str(budget.get("message", "")), style="red", markup=False)


_SCENARIOS = ("min", "expected", "max")


def _spinner(show: bool, text: str) -> Any:
    """A rich spinner on a terminal (stderr), nothing in CI logs or with --json."""
    import contextlib

    if show and sys.stderr.isatty():
        return output.console(stderr=True).status(text)
    return contextlib.nullcontext()
