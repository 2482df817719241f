"""`llmctl cost`: the monthly estimate of llm.yaml, per-token cost, actual spend and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmctl.cli import output

if TYPE_CHECKING:
    from llmctl.cost.actuals import ActualCosts
    from llmctl.ir import Deployment
    from llmctl.releases.revisions import Revision

SpecFile = Annotated[Path, typer.Option("-f", "--file", help="The spec file.", show_default=True)]


def register(app: typer.Typer) -> None:
    """Add `cost` to the root app."""
    app.command(name="cost")(cost)


def cost(
    file: SpecFile = Path("llm.yaml"),
    json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on stdout.")
    ] = False,
    csv: Annotated[bool, typer.Option("--csv", help="The estimate as CSV on stdout.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            help="Also write a chart of cost by model and pool: FILE.svg (or FILE.png "
            "with matplotlib installed).",
        ),
    ] = None,
    refresh_prices: Annotated[
        bool,
        typer.Option(
            "--refresh-prices",
            help="Fetch on-demand (Price List API) and spot prices of the "
            "spec's instance types from AWS and cache them under $LLMCTL_HOME first.",
        ),
    ] = False,
    actual: Annotated[
        bool,
        typer.Option(
            "--actual",
            help="Add what AWS Cost Explorer reports for resources tagged llmctl:deployment=NAME.",
        ),
    ] = False,
    since: Annotated[
        str, typer.Option("--since", help="How far back --actual looks: 30d, 12w or 2m.")
    ] = "30d",
    window: Annotated[
        str,
        typer.Option(
            "--window", help="Window of the Prometheus token counters behind the per-token cost."
        ),
    ] = "7d",
    prometheus_url: Annotated[
        str | None,
        typer.Option(
            "--prometheus-url",
            envvar="LLMCTL_PROMETHEUS_URL",
            help="Read token counters here instead of monitoring.prometheus_url "
            "(e.g. a port-forward to localhost).",
        ),
    ] = None,
) -> None:
    """Monthly cost of llm.yaml: min, expected and max, against the budget.

    Per pool and model, the change against the applied revision, USD per million output tokens.
    Exit 3 when over a budget with `on_exceed: block`."""
    from llmctl.compile import compile_file
    from llmctl.cost.estimate import estimate
    from llmctl.cost.hints import cheaper_fit_hints
    from llmctl.cost.prices import PriceCache
    from llmctl.cost.report import print_report, to_csv, write_chart
    from llmctl.cost.tokens import token_costs, window_seconds
    from llmctl.errors import LlmctlError

    if json and csv:
        raise LlmctlError("--json and --csv are exclusive", hint="choose one output format")
    window_seconds(window)  # a bad --window fails before any network call
    deployment = compile_file(file).deployment
    warnings: list[str] = []
    cache = _refresh(deployment) if refresh_prices else PriceCache.load()
    current = _current_revision(deployment, warnings)
    est = estimate(deployment, current.load_ir() if current else None, cache)
    tokens, token_warnings = token_costs(deployment, est, window, prometheus_url)
    warnings += token_warnings
    hints = cheaper_fit_hints(deployment, cache)
    spend = _actual(deployment.name, since) if actual else None
    written = write_chart(est, chart, spend) if chart is not None else None
    budget = est.budget
    if budget is not None and budget.status == "warn":
        warnings.append(budget.message)
    if json:
        data: dict[str, Any] = est.to_json()
        data |= {
            "tokens": [t.to_json() for t in tokens],
            "hints": hints,
            "actual": spend.to_json() if spend else None,
            "current_revision": current.number if current else None,
            "chart": str(written) if written else None,
            "warnings": warnings,
        }
        output.print_json(data)
    elif csv:
        typer.echo(to_csv(est), nl=False)
    else:
        print_report(output.console(), est, tokens, hints, spend)
        if written:
            output.console().print(f"chart: {written}", markup=False)
    err = output.console(stderr=True)
    for w in warnings:
        output.print_fitted(err, f"warning: {w}", hang=2, style="yellow")
    if budget is not None:
        budget.raise_if_blocked()


def _refresh(deployment: Deployment) -> Any:
    """Fetch live prices for the spec's (instance type, region) pairs into the cache."""
    from llmctl.cost.prices import PriceCache, refresh_prices

    pairs = [
        (p.instance_type, c.region)
        for c in deployment.clusters
        if c.region
        for p in c.pools
        if p.instance_type
    ]
    if not pairs:
        output.console(stderr=True).print("no aws pools: no prices to refresh", markup=False)
        return PriceCache.load()
    cache = refresh_prices(pairs)
    output.console(stderr=True).print(
        f"refreshed {len(set(pairs))} price{'s' if len(set(pairs)) != 1 else ''} into {cache.path}",
        markup=False,
    )
    return cache


def _current_revision(deployment: Deployment, warnings: list[str]) -> Revision | None:
    """The applied revision the change is measured against; None when there is none."""
    from llmctl.engine.backend import last_applied, open_state
    from llmctl.errors import LlmctlError
    from llmctl.home import default_state_url

    url = deployment.state or default_state_url()
    if url.startswith("file://"):
        # A local state that does not exist has nothing applied; do not create it here.
        raw = url[len("file://") :].split("?", 1)[0]
        if not raw or not Path(raw).expanduser().absolute().exists():
            return None
    try:
        return last_applied(open_state(deployment))
    except LlmctlError as exc:
        warnings.append(
            f"the change is against nothing: cannot read the applied revision ({exc.message})"
        )
        return None


def _actual(name: str, since: str) -> ActualCosts:
    """Cost Explorer's figures for the deployment over `since`."""
    from llmctl.cost.actuals import fetch_actual_costs, parse_since

    return fetch_actual_costs(name, parse_since(since))
