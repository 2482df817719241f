"""How a cost estimate is shown: the terminal tables, CSV, and a chart (SVG, or PNG with matplotlib).

The tables follow UX.md: one row per pool with min, expected and max USD per month, the EKS
control planes, the total with the budget, the change against the current revision, then the
models' shares with their dollars per million output tokens.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from rich.console import Console
from rich.table import Table

from llmctl.cost.breakdown import SCENARIOS, CostEstimate, Monthly, Scenario
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.cost.actuals import ActualCosts
    from llmctl.cost.tokens import TokenCost

UNALLOCATED = "(unallocated)"
DAYS_PER_MONTH = 730 / 24


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _signed(value: float) -> str:
    return f"{value:+,.0f}"


def _table(title: str, last: str, rows: list[tuple[str, Monthly, str]]) -> Table:
    """Label, min, expected, max and a note; the figures never shrink, the note wraps."""
    table = Table(box=None, show_header=True, pad_edge=False, padding=(0, 2), header_style="bold")
    labels = [f"  {label}" for label, _, _ in rows]
    table.add_column(title, no_wrap=True, min_width=max(len(x) for x in [title, *labels]))
    for name in SCENARIOS:
        cells = [_figure(m, name) for _, m, _ in rows]
        table.add_column(
            name, justify="right", no_wrap=True, min_width=max(len(x) for x in [name, *cells])
        )
    table.add_column(last, overflow="fold", min_width=len(last))
    for label, m, note in rows:
        table.add_row(f"  {label}", *(_figure(m, s) for s in SCENARIOS), note)
    return table


def _figure(m: Monthly, scenario: Scenario) -> str:
    return _n(m.get(scenario))


def cost_table(estimate: CostEstimate) -> Table:
    """Pools, control planes, total with the budget, and the delta: USD per month."""
    rows: list[tuple[str, Monthly, str]] = []
    for pc in estimate.by_pool:
        note = ""
        if pc.spot_savings is not None and pc.on_demand_expected is not None:
            note = (
                f"spot; saves {_n(pc.spot_savings)} against on-demand "
                f"{_n(pc.on_demand_expected)} (expected)"
            )
        rows.append((pc.pool.key, pc.total, note))
    for cc in estimate.by_cluster:
        if cc.control_plane:
            fee = cc.control_plane
            rows.append((f"{cc.cluster.name} EKS control plane", Monthly(fee, fee, fee), ""))
        if cc.system:
            fee = cc.system
            rows.append((f"{cc.cluster.name} system nodes + NAT", Monthly(fee, fee, fee), ""))
    budget = estimate.budget
    note = ""
    if budget is not None and budget.monthly_usd is not None:
        verdict = "ok" if budget.status == "ok" else f"over: {budget.status}"
        note = f"budget {_n(budget.monthly_usd)} ({verdict})"
    rows.append(("total", estimate.monthly, note))
    table = _table("Cost (USD / month)", "", rows)
    since = "the current revision" if estimate.current else "nothing applied yet"
    table.add_row(
        "  change", "", _signed(estimate.delta_monthly_usd), "", f"expected, against {since}"
    )
    return table


def _token_cell(cost: TokenCost | None) -> str:
    if cost is None:
        return ""
    if cost.usd_per_million is None:
        return "n/a"
    where = f"measured, {cost.window}" if cost.basis == "prometheus" else "estimate"
    return f"{cost.usd_per_million:,.2f} ({where})"


def model_table(estimate: CostEstimate, tokens: Sequence[TokenCost] = ()) -> Table:
    """Each model's share of the GPUs it occupies, with its dollars per million output tokens."""
    by_name = {t.model: t for t in tokens}
    rows = [(mc.name, mc.monthly, _token_cell(by_name.get(mc.name))) for mc in estimate.by_model]
    rows.append((UNALLOCATED, estimate.unallocated, "GPUs no replica occupies"))
    return _table("Per model (USD / month)", "USD / 1M output tokens" if tokens else "", rows)


def _price_line(estimate: CostEstimate) -> str:
    source, date = estimate.prices.get("source"), estimate.prices.get("date")
    if source == "gpu_hour_usd":
        return "prices: on-prem gpu_hour_usd from the spec"
    names = {
        "catalog": "the bundled catalog",
        "cache": "AWS prices cached by --refresh-prices",
        "cache+catalog": "cached AWS prices and the bundled catalog",
    }
    line = f"prices: {names.get(str(source), source)} of {date}"
    spot_from_catalog = any(
        p.basis == "spot" and p.price.source == "catalog" for p in estimate.by_pool
    )
    return line + ("; catalog spot prices are planning estimates" if spot_from_catalog else "")


def summary_lines(
    estimate: CostEstimate,
    tokens: Sequence[TokenCost] = (),
    hints: Sequence[str] = (),
    actual: ActualCosts | None = None,
) -> list[str]:
    """The lines under the tables: prices, notes, the estimate's basis, hints and actuals."""
    lines = [_price_line(estimate)]
    lines += [f"note: {n}" for n in estimate.notes]
    lines += [f"overflow: {o.derivation()}" for o in estimate.overflow]
    notes = list(dict.fromkeys(t.note for t in tokens if t.basis == "estimate" and t.note))
    lines += [f"tokens: {n}" for n in notes]
    lines += [
        f"replica: {mc.name}: {mc.gpus_per_replica} GPUs on {mc.nodes_per_replica} nodes of "
        f"{mc.gpus_per_replica // mc.nodes_per_replica} GPUs (one LeaderWorkerSet group), "
        "priced as whole nodes"
        for mc in estimate.by_model
        if mc.nodes_per_replica > 1
    ]
    if actual is not None:
        lines += actual_lines(actual, estimate)
    lines += [f"hint: {h}" for h in hints]
    return lines


def actual_lines(actual: ActualCosts, estimate: CostEstimate) -> list[str]:
    """Cost Explorer's figures next to the estimate."""
    from datetime import date

    days = max(1, (date.fromisoformat(actual.end) - date.fromisoformat(actual.start)).days)
    per_month = actual.total_usd / days * DAYS_PER_MONTH
    lines = [
        f"actual (Cost Explorer, {actual.start} to {actual.end}): {_n(actual.total_usd)} "
        f"{actual.currency}, about {_n(per_month)} / month against {_n(estimate.monthly.expected)}"
        f" expected" + (" (some days not final yet)" if actual.estimated else "")
    ]
    for name, amount in sorted(actual.by_group.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name}: {_n(amount)}")
    lines += [f"note: {n}" for n in actual.notes]
    return lines


def print_report(
    console: Console,
    estimate: CostEstimate,
    tokens: Sequence[TokenCost] = (),
    hints: Sequence[str] = (),
    actual: ActualCosts | None = None,
) -> None:
    """The whole human report on `console`."""
    console.print(cost_table(estimate))
    console.print()
    console.print(model_table(estimate, tokens))
    console.print()
    for line in summary_lines(estimate, tokens, hints, actual):
        console.print(line, markup=False, highlight=False)


def render_text(
    estimate: CostEstimate,
    tokens: Sequence[TokenCost] = (),
    hints: Sequence[str] = (),
    actual: ActualCosts | None = None,
    width: int = 160,
) -> str:
    """The human report as plain text (golden files, logs)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, no_color=True, color_system=None, highlight=False, soft_wrap=True
    )
    print_report(console, estimate, tokens, hints, actual)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


# --- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = ("scope", "name", "min_usd", "expected_usd", "max_usd")


def to_csv(estimate: CostEstimate) -> str:
    """One row per pool, control plane, cluster, model, then unallocated, total and delta."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)

    def row(scope: str, name: str, m: Monthly) -> None:
        writer.writerow((scope, name, *(f"{m.get(s):.2f}" for s in SCENARIOS)))

    for pc in estimate.by_pool:
        row("pool", pc.pool.key, pc.total)
    for cc in estimate.by_cluster:
        if cc.control_plane:
            row("control-plane", cc.cluster.name, Monthly(*(3 * [cc.control_plane])))
        if cc.system:
            row("system", cc.cluster.name, Monthly(*(3 * [cc.system])))
    for cc in estimate.by_cluster:
        row("cluster", cc.cluster.name, cc.total)
    for mc in estimate.by_model:
        row("model", mc.name, mc.monthly)
    row("model", UNALLOCATED, estimate.unallocated)
    row("total", estimate.deployment, estimate.monthly)
    writer.writerow(("delta", estimate.deployment, "", f"{estimate.delta_monthly_usd:.2f}", ""))
    return buffer.getvalue()


# --- the chart ---------------------------------------------------------------------------------

WIDTH, LABEL_W, BAR_H, GAP = 760, 210, 18, 8
EXPECTED_FILL, MAX_FILL, ACTUAL_FILL = "#2f6db5", "#c9d9ee", "#d9822b"


def _bars(title: str, rows: list[tuple[str, float, float]], top: float) -> tuple[list[str], float]:
    """A horizontal bar per row (max as a pale bar behind the expected one), from y = top."""
    out = [f'<text x="10" y="{top + 16:.0f}" class="title">{escape(title)}</text>']
    scale_max = max([m for _, _, m in rows] + [e for _, e, _ in rows] + [1.0])
    span = WIDTH - LABEL_W - 140  # room for the figures after the longest bar
    y = top + 28
    for label, expected, high in rows:
        out.append(
            f'<text x="{LABEL_W - 8}" y="{y + 13:.0f}" text-anchor="end">{escape(label)}</text>'
        )
        out.append(
            f'<rect x="{LABEL_W}" y="{y:.0f}" width="{span * high / scale_max:.1f}" '
            f'height="{BAR_H}" fill="{MAX_FILL}"><title>max {_n(high)}</title></rect>'
        )
        out.append(
            f'<rect x="{LABEL_W}" y="{y:.0f}" width="{span * expected / scale_max:.1f}" '
            f'height="{BAR_H}" fill="{EXPECTED_FILL}"><title>expected {_n(expected)}</title></rect>'
        )
        out.append(
            f'<text x="{LABEL_W + span * max(expected, high) / scale_max + 6:.1f}" '
            f'y="{y + 13:.0f}">{_n(expected)} / {_n(high)}</text>'
        )
        y += BAR_H + GAP
    return out, y + 10


def _columns(actual: ActualCosts, top: float) -> tuple[list[str], float]:
    """Actual spend per period as columns, from y = top."""
    out = [
        f'<text x="10" y="{top + 16:.0f}" class="title">Actual cost per '
        f"{'day' if actual.granularity == 'DAILY' else 'month'} ({escape(actual.currency)}, "
        f"Cost Explorer)</text>"
    ]
    periods = actual.by_day or [(actual.start, 0.0)]
    height, base = 140, top + 28 + 140
    peak = max([v for _, v in periods] + [1e-9])
    step = (WIDTH - LABEL_W - 40) / len(periods)
    for i, (day, value) in enumerate(periods):
        h = height * value / peak
        x = LABEL_W + i * step
        out.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{ACTUAL_FILL}"><title>{escape(day)}: {value:,.2f}</title></rect>'
        )
    out.append(f'<text x="{LABEL_W - 8}" y="{top + 40:.0f}" text-anchor="end">{_n(peak)}</text>')
    out.append(f'<text x="{LABEL_W - 8}" y="{base:.0f}" text-anchor="end">0</text>')
    out.append(
        f'<line x1="{LABEL_W}" y1="{base:.0f}" x2="{WIDTH - 40}" y2="{base:.0f}" stroke="#888"/>'
    )
    out.append(f'<text x="{LABEL_W}" y="{base + 16:.0f}">{escape(periods[0][0])}</text>')
    out.append(
        f'<text x="{WIDTH - 40}" y="{base + 16:.0f}" text-anchor="end">'
        f"{escape(periods[-1][0])}</text>"
    )
    return out, base + 30


def chart_svg(estimate: CostEstimate, actual: ActualCosts | None = None) -> str:
    """The chart as an SVG document: cost by model and by pool (expected over max), and actuals."""
    models = [(m.name, m.monthly.expected, m.monthly.max) for m in estimate.by_model]
    models.append((UNALLOCATED, estimate.unallocated.expected, estimate.unallocated.max))
    pools = [(p.pool.key, p.total.expected, p.total.max) for p in estimate.by_pool]
    pools += [
        (f"{c.cluster.name} control plane", c.control_plane, c.control_plane)
        for c in estimate.by_cluster
        if c.control_plane
    ]
    pools += [
        (f"{c.cluster.name} system nodes + NAT", c.system, c.system)
        for c in estimate.by_cluster
        if c.system
    ]
    body = [
        f'<text x="10" y="24" class="head">{escape(estimate.deployment)}: '
        f"{_n(estimate.monthly.expected)} USD / month expected, {_n(estimate.monthly.max)} at max"
        "</text>",
        f'<rect x="{LABEL_W}" y="34" width="12" height="12" fill="{EXPECTED_FILL}"/>',
        f'<text x="{LABEL_W + 16}" y="45">expected</text>',
        f'<rect x="{LABEL_W + 90}" y="34" width="12" height="12" fill="{MAX_FILL}"/>',
        f'<text x="{LABEL_W + 106}" y="45">max</text>',
    ]
    part, y = _bars("By model (USD / month)", models, 56)
    body += part
    part, y = _bars("By pool (USD / month)", pools, y)
    body += part
    if actual is not None:
        part, y = _columns(actual, y)
        body += part
    style = (
        "text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".title{font-size:14px;font-weight:bold}.head{font-size:16px;font-weight:bold}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y:.0f}" '
        f'viewBox="0 0 {WIDTH} {y:.0f}">\n<style>{style}</style>\n'
        f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )


def _png(estimate: CostEstimate, path: Path, actual: ActualCosts | None) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise LlmctlError(
            "a PNG chart needs matplotlib, which is not installed",
            hint="write an SVG instead (--chart cost.svg), or pip install matplotlib",
        ) from exc
    panels: list[Any] = [
        ("By model", [(m.name, m.monthly) for m in estimate.by_model]),
        ("By pool", [(p.pool.key, p.total) for p in estimate.by_pool]),
    ]
    fig, axes = plt.subplots(len(panels) + (actual is not None), 1, figsize=(9, 9))
    for ax, (title, rows) in zip(axes, panels, strict=False):
        labels = [r[0] for r in rows]
        ax.barh(labels, [r[1].max for r in rows], color=MAX_FILL, label="max")
        ax.barh(labels, [r[1].expected for r in rows], color=EXPECTED_FILL, label="expected")
        ax.set_title(f"{title} (USD / month)")
        ax.legend()
    if actual is not None:
        axes[-1].bar(
            [d for d, _ in actual.by_day], [v for _, v in actual.by_day], color=ACTUAL_FILL
        )
        axes[-1].set_title(f"Actual cost ({actual.currency}, Cost Explorer)")
        axes[-1].tick_params(axis="x", labelrotation=90)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_chart(
    estimate: CostEstimate, path: str | Path, actual: ActualCosts | None = None
) -> Path:
    """Write the chart to `path`: PNG when it ends in .png (needs matplotlib), SVG otherwise."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".png":
            _png(estimate, target, actual)
        else:
            target.write_text(chart_svg(estimate, actual), encoding="utf-8")
    except OSError as exc:
        raise LlmctlError(
            f"cannot write the chart to {target}: {exc.strerror or exc}",
            hint="choose a writable path, e.g. --chart cost.svg",
        ) from exc
    return target
