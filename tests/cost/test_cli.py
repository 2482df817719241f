"""`llmctl cost` through the real entry point: JSON, CSV, chart, budgets and their exit codes,
the delta against an applied revision, the price cache, refreshed prices, and actuals."""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from llmctl.compile import compile_file
from llmctl.cost.estimate import estimate
from llmctl.cost.prices import PriceCache
from llmctl.releases.backend import open_backend
from llmctl.releases.revisions import RevisionStore
from tests.conftest import EXAMPLES
from tests.cost_aws.conftest import moto_api, set_ce_results
from tests.releases.fixtures import release_of

H = 730


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_prices_through_the_cli(cli, spec_copy, name, tmp_path):
    path = spec_copy(name)
    code, out, err = cli("cost", "-f", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    expected = estimate(compile_file(path).deployment, prices=PriceCache(tmp_path / "none.json"))
    assert data["monthly_usd"] == expected.to_json()["monthly_usd"]
    assert data["delta_monthly_usd"] == data["monthly_usd"]["expected"]  # nothing applied yet
    assert data["current_revision"] is None
    assert {t["basis"] for t in data["tokens"]} == {"estimate"}
    assert len(data["by_model"]) == len(expected.by_model)


def test_human_output(cli, spec_copy):
    code, out, err = cli("cost", "-f", str(spec_copy("hybrid")))
    assert code == 0, err
    assert out.startswith("Cost (USD / month)")
    assert "budget 40,000 (ok)" in out and "Per model (USD / month)" in out
    assert "hint: aws/burst: g6.xlarge" in out


BUDGET = "budget:\n  monthly_usd: 500\n  on_exceed: {}\n"


def test_over_budget_with_block_exits_3_with_the_figures(cli, spec_copy):
    path = spec_copy("quickstart", BUDGET.format("block"))
    code, out, err = cli("cost", "-f", str(path), "--json")
    assert code == 3
    assert json.loads(out)["budget"] == {
        "monthly_usd": 500.0, "on_exceed": "block", "status": "block", "compared_usd": 657.0,
        "message": "max monthly cost 657 USD exceeds the budget of 500 USD by 157 USD "
                   "(on_exceed: block)",
        "hint": "largest at max: lab/l4 657 USD; lower nodes of lab/l4, raise "
                "budget.monthly_usd, or set budget.on_exceed: warn"}  # fmt: skip
    assert "error: max monthly cost 657 USD exceeds the budget of 500 USD by 157 USD" in err
    assert "hint: largest at max: lab/l4 657 USD" in err
    code, out, err = cli("cost", "-f", str(path))  # the human table still shows, then exit 3
    assert code == 3 and "budget 500 (over: block)" in out


def test_over_budget_with_warn_exits_0_with_a_warning(cli, spec_copy):
    code, out, err = cli("cost", "-f", str(spec_copy("quickstart", BUDGET.format("warn"))))
    assert code == 0
    assert "warning: max monthly cost 657 USD exceeds the budget of 500 USD by 157 USD" in err
    assert "budget 500 (over: warn)" in out


def test_delta_against_the_applied_revision(cli, spec_copy, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LLMCTL_HOME", str(home))
    applied = compile_file(spec_copy("hybrid", replace={"max: 6}": "max: 2}"})).deployment
    store = RevisionStore(open_backend(f"file://{home / 'state'}"), "support-bot")
    store.record("applied", release_of(applied), None, {})
    code, out, err = cli("cost", "-f", str(spec_copy("hybrid")), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["current_revision"] == 1
    cur = estimate(applied, prices=PriceCache(tmp_path / "none.json")).monthly
    assert data["current_monthly_usd"]["expected"] == pytest.approx(cur.expected, abs=0.01)
    assert data["delta_monthly_usd"] == pytest.approx(
        data["monthly_usd"]["expected"] - cur.expected, abs=0.01
    )
    assert data["delta_monthly_usd"] > 0  # burst grew from 0..2 to 0..6 replicas


def test_csv_and_chart(cli, spec_copy, tmp_path):
    chart = tmp_path / "charts" / "cost.svg"
    code, out, err = cli("cost", "-f", str(spec_copy("onprem")), "--csv", "--chart", str(chart))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "scope,name,min_usd,expected_usd,max_usd"
    assert "total,onprem-chat,17520.00,17520.00,17520.00" in lines
    assert ET.parse(chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_bad_arguments_exit_1(cli, spec_copy):
    path = str(spec_copy("quickstart"))
    code, _, err = cli("cost", "-f", path, "--json", "--csv")
    assert code == 1 and "--json and --csv are exclusive" in err
    code, _, err = cli("cost", "-f", path, "--window", "week")
    assert code == 1 and "--window 'week' is not a duration" in err and "hint:" in err


def test_cached_prices_are_used(cli, spec_copy):
    cache = PriceCache.load()
    cache.put("g6e.xlarge", "us-west-2", 2.0, 1.0)
    cache.save()
    code, out, err = cli("cost", "-f", str(spec_copy("hybrid")), "--json")
    assert code == 0, err
    data = json.loads(out)
    standby = next(p for p in data["by_pool"] if p["pool"] == "aws/standby")
    assert standby["price"]["source"] == "cache"
    assert standby["monthly_usd"]["max"] == pytest.approx(2 * (2.0 * H + 200 * 0.08))
    assert data["prices"]["source"] == "cache"


# --- AWS: moto on loopback, and a Stubber for the Pricing API (moto has none) ----------------

AWS_SPEC = """version: 1
name: priced
clusters:
  - name: c
    aws: {region: us-east-1, cluster: {create: true}}
    pools:
      - {name: a10g, instance_type: g5.xlarge, capacity: [spot, on-demand], max_nodes: 3}
models:
  - name: qwen-7b
    source: hf://Qwen/Qwen2.5-7B-Instruct
    revision: a09a35458c702b33eeacc393d103063234e8bc28
    placements: [{pool: c/a10g, replicas: 2}]
"""


@pytest.fixture
def aws(monkeypatch, moto_server):
    """Fake credentials, every AWS endpoint at the (reset) moto server, nothing else reachable."""
    assert moto_api(moto_server, "reset") == 200
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.mark.moto
def test_actual_costs_from_cost_explorer(cli, aws, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(AWS_SPEC)
    ec2 = "Amazon Elastic Compute Cloud - Compute"
    days = [("2025-05-30", "31.25"), ("2025-05-31", "28.75")]
    set_ce_results(aws, [{"ResultsByTime": [
        {"TimePeriod": {"Start": d, "End": d}, "Total": {}, "Estimated": False,
         "Groups": [{"Keys": [ec2], "Metrics": {"UnblendedCost": {"Amount": a, "Unit": "USD"}}}]}
        for d, a in days]}])  # fmt: skip
    chart = tmp_path / "cost.svg"
    code, out, err = cli(
        "cost", "-f", str(spec), "--actual", "--since", "2d", "--json", "--chart", str(chart)
    )
    assert code == 0, err
    actual = json.loads(out)["actual"]
    assert actual["deployment"] == "priced" and actual["total_usd"] == pytest.approx(60.0)
    assert actual["by_group"] == {ec2: pytest.approx(60.0)}
    assert actual["by_day"] == [{"date": d, "usd": float(a)} for d, a in days]
    columns = [
        t
        for t in ET.parse(chart).getroot().iter("{http://www.w3.org/2000/svg}title")
        if (t.text or "").startswith("2025-05-")
    ]
    assert len(columns) == 2
    # the human report puts the actual next to the estimate, as a monthly rate too
    code, out, _ = cli("cost", "-f", str(spec), "--actual", "--since", "2d")
    assert code == 0
    rate = 60.0 / 2 * 730 / 24
    expected = estimate(compile_file(spec).deployment, prices=PriceCache(tmp_path / "no.json"))
    assert (
        f": 60 USD, about {rate:,.0f} / month against {expected.monthly.expected:,.0f} expected"
        in out
    )
    assert f"  {ec2}: 60" in out


@pytest.mark.moto
def test_refresh_prices_fills_the_cache_the_estimate_uses(cli, aws, tmp_path, monkeypatch):
    import boto3
    from botocore.stub import Stubber

    from llmctl.cost import prices
    from tests.cost_aws.conftest import on_demand_filters, price_list_item

    pricing = boto3.Session().client("pricing", region_name="us-east-1")
    stub = Stubber(pricing)
    stub.add_response(
        "get_products",
        {"PriceList": [price_list_item("g5.xlarge", "us-east-1", "1.2340000000")],
         "FormatVersion": "aws_v1"},
        {"ServiceCode": "AmazonEC2", "Filters": on_demand_filters("g5.xlarge", "us-east-1"),
         "FormatVersion": "aws_v1", "MaxResults": 100},
    )  # fmt: skip
    stub.activate()
    real_make_client = prices.make_client
    monkeypatch.setattr(
        prices,
        "make_client",
        lambda service, region, session=None, endpoint_url=None: (
            pricing if service == "pricing" else real_make_client(service, region, session)
        ),
    )
    ec2 = boto3.Session().client("ec2", region_name="us-east-1")
    history = ec2.describe_spot_price_history(
        InstanceTypes=["g5.xlarge"],
        ProductDescriptions=["Linux/UNIX"],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
    )["SpotPriceHistory"]
    latest = {}
    for row in sorted(history, key=lambda r: r["Timestamp"]):
        latest[row["AvailabilityZone"]] = float(row["SpotPrice"])
    spot = statistics.median(latest.values())

    spec = tmp_path / "llm.yaml"
    spec.write_text(AWS_SPEC)
    code, out, err = cli("cost", "-f", str(spec), "--refresh-prices", "--json")
    assert code == 0, err
    assert "refreshed 1 price into" in err
    stub.assert_no_pending_responses()
    pool = json.loads(out)["by_pool"][0]
    assert pool["price"] == {
        "node_hour_usd": 1.234,
        "spot_node_hour_usd": spot,
        "basis": "spot",
        "source": "cache",
        "date": datetime.now(UTC).date().isoformat(),
    }
    assert pool["monthly_usd"]["max"] == pytest.approx(3 * (1.234 * H + 200 * 0.08), abs=0.01)
    # the next run (no refresh) reads the same cache
    code, out, _ = cli("cost", "-f", str(spec), "--json")
    assert json.loads(out)["by_pool"][0]["price"]["source"] == "cache"
