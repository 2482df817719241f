"""The human plan (UX.md): per-stack changes with Terraform's symbols, fitted to the terminal's
width, then the totals, warnings and the cost table. JSON keeps the full type tokens and names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.cli import output

if TYPE_CHECKING:
    from llmctl.ir import Deployment
    from llmctl.plan import Plan, ResourceChange

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
OFFLINE_BANNER = "offline: structural plan, no provider diff"
INDENT = "    "


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


def short_type(token: str) -> str:
    """A Pulumi type token as people say it: `aws:eks/nodeGroup:NodeGroup` -> `aws:eks:NodeGroup`,
    `kubernetes:apps/v1:Deployment` -> `k8s:Deployment`, `kubernetes:helm.sh/v3:Release` ->
    `helm:Release`, `pulumi:providers:kubernetes` -> `provider:kubernetes`."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, kind = parts
    if package == "pulumi" and module == "providers":
        return f"provider:{kind}"
    if package == "kubernetes":
        return f"helm:{kind}" if module.startswith("helm.sh/") else f"k8s:{kind}"
    return f"{package}:{module.split('/')[0]}:{kind}"


def short_name(change: ResourceChange, deployment: Deployment) -> str:
    """The logical name without what the line already says: the kind (in the type column) and
    the deployment's name (`gateway-my-llm-my-llm` -> `my-llm`, `deployment-my-llm-m-gpu` -> `m-gpu`)."""
    name = change.name
    kind = change.type.rsplit(":", 1)[-1].lower()
    if name.startswith(kind + "-"):
        name = name[len(kind) + 1 :]
    prefixes = {deployment.name, *(c.namespace for c in deployment.clusters)}
    for _ in range(2):  # `<namespace>-<deployment>-rest`: both go
        for prefix in sorted(prefixes, key=len, reverse=True):
            if name.startswith(prefix + "-") and len(name) > len(prefix) + 1:
                name = name[len(prefix) + 1 :]
                break
    return name


def change_lines(
    changes: list[ResourceChange], deployment: Deployment, width: int
) -> list[tuple[str, str]]:
    """One line per change (`    + k8s:Deployment  llama-8b-gpu  2 replicas x 1 GPU`); the summary
    goes on its own line under the name when the line would not fit in `width`. Each with its op."""
    rows = [
        (SYMBOLS[c.op], short_type(c.type), short_name(c, deployment), c.summary) for c in changes
    ]
    sym_w = max((len(r[0]) for r in rows), default=1)
    type_w = max((len(r[1]) for r in rows), default=0)
    prefix = len(INDENT) + sym_w + 1 + type_w + 2

    # The name column width that keeps the most summaries beside their names; a longer name
    # (or summary) puts its summary on the next line.
    def fitting(w: int) -> int:
        return sum(
            1 for *_, n, sm in rows if sm and len(n) <= w and prefix + w + 2 + len(sm) <= width
        )

    name_w = max(sorted({len(r[2]) for r in rows}), key=fitting, default=0)
    lines: list[tuple[str, str]] = []
    for (sym, type_, name, summary), change in zip(rows, changes, strict=True):
        head = f"{INDENT}{sym:<{sym_w}} {type_:<{type_w}}  {name}"
        if len(head) > width:  # a long name goes under its type, with its summary
            under = " " * (len(INDENT) + sym_w + 1)
            lines.append((f"{INDENT}{sym:<{sym_w}} {type_}", change.op))
            lines += [(f"{under}{text}", change.op) for text in (name, summary) if text]
            continue
        if not summary:
            lines.append((head, change.op))
            continue
        one_line = f"{INDENT}{sym:<{sym_w}} {type_:<{type_w}}  {name:<{name_w}}  {summary}"
        if len(name) <= name_w and len(one_line) <= width:
            lines.append((one_line, change.op))
        else:
            lines.append((head, change.op))
            lines.append((" " * prefix + summary, change.op))
    return lines


def print_plan(result: Plan, deployment: Deployment, extra_warnings: int = 0) -> None:
    """The human plan (UX.md): banner, per-stack changes with symbols, totals, cost."""
    con = output.console()
    if result.offline:
        banner = f"{OFFLINE_BANNER} ({result.reason})" if result.reason else OFFLINE_BANNER
        if len(banner) > con.width:
            banner = f"{OFFLINE_BANNER}:\n  {result.reason}"
        for line in banner.splitlines():
            output.print_fitted(con, line, hang=4, style="yellow")
    if result.baseline.unreadable:  # loud, first: a full create is not the change
        output.print_fitted(con, f"warning: {result.baseline.warning}", hang=2, style="red bold")
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
            output.print_fitted(con, f"{INDENT}addon {line}", hang=len(INDENT) + 2)
        if not changed:
            con.print(f"{INDENT}no changes", markup=False)
        styles = {"create": "green", "delete": "red"}
        for line, op in change_lines(changed, deployment, con.width):
            indent = len(line) - len(line.lstrip())
            output.print_fitted(con, line, hang=indent + 2, style=styles.get(op, "yellow"))
    t = result.totals()
    if result.has_changes:
        con.print(
            f"\nPlan: {t['create'] + t['replace']} to create, {t['update']} to change, "
            f"{t['delete'] + t['replace']} to destroy.",
            markup=False,
        )
    else:
        con.print("\nNo changes: the deployment matches llm.yaml.", markup=False)
    err = output.console(stderr=True)
    for w in result.warnings[extra_warnings:]:
        if w != result.baseline.warning:  # said first, above
            output.print_fitted(err, f"warning: {w}", hang=2, style="yellow")
    if result.cost:
        print_cost(result.cost, no_baseline=bool(result.baseline.unreadable))


def print_cost(cost: dict[str, Any], no_baseline: bool = False) -> None:
    """The cost table of UX.md: pools and control planes, total with the budget, the change.

    A note that would run past the terminal goes on its own line under its row. An over-budget
    verdict is not repeated here: `warn` is among the plan's warnings, `block` is the error."""
    rows: list[tuple[str, dict[str, float] | None, str]] = [
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
    since = "the applied revision" if cost.get("current_monthly_usd") else "nothing applied yet"
    if no_baseline:
        since = "NO BASELINE (the state was not readable)"
    rows.append(("change", None, f"expected, against {since}"))
    title = "Cost (USD / month)"
    width = max(max(len(label) for label, _, _ in rows) + 3, len(title) + 1)
    con = output.console()
    con.print(f"\n{title:<{width}}" + "".join(f"{s:>{_FIG}}" for s in _SCENARIOS), markup=False)
    for label, m, note in rows:
        if m is None:  # the change: expected only
            delta = f"{cost.get('delta_monthly_usd', 0):+,.0f}"
            figures = f"{'':>{_FIG}}{delta:>{_FIG}}{'':>{_FIG}}"
        else:
            figures = "".join(f"{m[s]:>{_FIG},.0f}" for s in _SCENARIOS)
        line = f"  {label:<{width - 2}}{figures}"
        if note and len(line) + 4 + len(note) <= con.width:
            con.print(f"{line}    {note}", markup=False)
        else:
            con.print(line.rstrip(), markup=False)
            if note:
                con.print(f"    {note}", markup=False)
    for o in cost.get("overflow") or []:  # how each overflow placement's expected was derived
        output.print_fitted(con, f"  overflow: {o['derivation']}", hang=4)
    for r in cost.get("rollouts") or []:
        output.print_fitted(
            con,
            f"  rollout of {r['model']} ({r['strategy']}): +{r['surge_monthly_usd']:,.0f} "
            "USD / month while its extra replicas run",
            hang=4,
        )


_FIG = 11
_SCENARIOS = ("min", "expected", "max")
