"""The cost report: golden tables per example, CSV shape, and the chart (parsed as XML)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from llmctl.compile import compile_file
from llmctl.cost.actuals import ActualCosts
from llmctl.cost.estimate import estimate
from llmctl.cost.hints import cheaper_fit_hints
from llmctl.cost.prices import PriceCache
from llmctl.cost.report import CSV_HEADER, UNALLOCATED, render_text, to_csv, write_chart
from llmctl.cost.tokens import estimated_token_cost
from llmctl.errors import LlmctlError
from tests.conftest import EXAMPLES, ROOT, example

GOLDEN = ROOT / "tests" / "cost" / "golden"
SVG = "{http://www.w3.org/2000/svg}"


def report(name: str, tmp_path):
    d = compile_file(example(name)).deployment
    cache = PriceCache(tmp_path / "prices.json")  # empty: the bundled catalog's prices
    est = estimate(d, prices=cache)
    tokens = [estimated_token_cost(d, m) for m in est.by_model]
    return est, render_text(est, tokens, cheaper_fit_hints(d, cache))


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_table(name, tmp_path):
    _, text = report(name, tmp_path)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("LLMCTL_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"no golden file; run with LLMCTL_UPDATE_GOLDEN=1 to write {golden}"
    assert text == golden.read_text()


def test_table_shows_the_ux_rows(tmp_path):
    est, text = report("hybrid", tmp_path)
    lines = text.splitlines()
    assert lines[0].split() == ["Cost", "(USD", "/", "month)", "min", "expected", "max"]
    total = next(line for line in lines if line.strip().startswith("total"))
    assert total.split()[1:4] == [f"{est.monthly.get(s):,.0f}" for s in ("min", "expected", "max")]
    assert total.rstrip().endswith("budget 40,000 (ok)")
    burst = next(line for line in lines if line.strip().startswith("aws/burst"))
    assert "spot; saves" in burst and "against on-demand" in burst
    assert any(line.strip().startswith("aws EKS control plane") for line in lines)
    assert any(line.strip().startswith("aws system nodes + NAT") for line in lines)
    change = f"+{est.monthly.expected:,.0f}"  # nothing applied yet: all of it
    assert any(line.strip().startswith("change") and change in line for line in lines)
    assert change == "+9,273"
    (overflow,) = [line for line in lines if line.startswith("overflow:")]
    assert "mistral-7b on aws/burst: 0 replicas at rest" in overflow
    assert "expected 40 h/month (overflow_hours_per_month) = 206 USD" in overflow


def test_csv_shape(tmp_path):
    est, _ = report("hybrid", tmp_path)
    rows = list(csv.reader(io.StringIO(to_csv(est))))
    assert tuple(rows[0]) == CSV_HEADER
    assert all(len(r) == len(CSV_HEADER) for r in rows)
    scopes = [r[0] for r in rows[1:]]
    assert scopes == ["pool"] * 3 + ["control-plane", "system"] + ["cluster"] * 2 + [
        "model"
    ] * 2 + ["total", "delta"]
    by = {(r[0], r[1]): r for r in rows[1:]}
    assert [float(x) for x in by[("total", "support-bot")][2:]] == pytest.approx(
        [est.monthly.min, est.monthly.expected, est.monthly.max], abs=0.005
    )
    assert by[("model", UNALLOCATED)][3] == f"{est.unallocated.expected:.2f}"
    assert by[("delta", "support-bot")][2:] == ["", f"{est.delta_monthly_usd:.2f}", ""]
    pools = sum(float(by[("pool", k)][4]) for k in ("onprem/l40s", "aws/burst", "aws/standby"))
    fixed = float(by[("control-plane", "aws")][4]) + float(by[("system", "aws")][4])
    assert pools + fixed == pytest.approx(est.monthly.max, abs=0.02)


def _actual() -> ActualCosts:
    days = [(f"2025-05-{d:02d}", 10.0 * d) for d in range(1, 8)]
    return ActualCosts(
        "support-bot",
        "2025-05-01",
        "2025-05-08",
        "DAILY",
        "SERVICE",
        sum(v for _, v in days),
        days,
        {"EC2": 200.0, "EKS": 80.0},
    )


def test_svg_chart_is_well_formed_and_holds_every_model_and_pool(tmp_path):
    est, _ = report("aws", tmp_path)
    path = write_chart(est, tmp_path / "out" / "cost.svg", _actual())
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for label in [
        "qwen-7b",
        "llama-70b",
        UNALLOCATED,
        "use1/l40s",
        "use1/h100",
        "use1 control plane",
    ]:
        assert label in texts
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    qwen = next(m for m in est.by_model if m.name == "qwen-7b")
    assert f"expected {qwen.monthly.expected:,.0f}" in titles
    assert f"max {est.pool('use1/h100').total.max:,.0f}" in titles
    # one column per day of actual spend, the tallest for the costliest day
    columns = [
        r for r in root.iter(f"{SVG}rect") if (r.findtext(f"{SVG}title") or "").startswith("2025-")
    ]
    assert len(columns) == 7
    heights = [float(r.get("height", 0)) for r in columns]
    assert heights == sorted(heights) and heights[-1] > 0
    # bars scale within the drawing
    width = float(root.get("width", 0))
    assert all(
        float(r.get("x", 0)) + float(r.get("width", 0)) <= width
        for r in root.iter(f"{SVG}rect")
        if r.get("width") != "100%"
    )


@pytest.mark.skipif(
    shutil.which("rsvg-convert") is None, reason="rsvg-convert (librsvg2-bin) absent"
)
def test_svg_chart_renders_with_librsvg(tmp_path):
    est, _ = report("hybrid", tmp_path)
    svg = write_chart(est, tmp_path / "cost.svg")
    png = tmp_path / "cost.png"
    subprocess.run(["rsvg-convert", str(svg), "-o", str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_chart_needs_matplotlib(tmp_path):
    est, _ = report("quickstart", tmp_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(LlmctlError) as info:
            write_chart(est, tmp_path / "cost.png")
        assert "--chart cost.svg" in info.value.hint
    else:
        path = write_chart(est, tmp_path / "cost.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
