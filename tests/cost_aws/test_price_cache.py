"""The price cache under $LLMCTL_HOME, refresh_prices end to end, and choosing a quote.

refresh_prices runs against moto (EC2 spot history over HTTP on loopback) and a Stubber on the
Pricing client (moto has no Pricing service).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.stub import Stubber

from llmctl.cost.prices import (
    PriceCache,
    PriceQuote,
    default_cache_path,
    quote_from_catalog,
    refresh_prices,
    resolve_quote,
)
from llmctl.errors import LlmctlError

NOW = datetime(2025, 6, 10, 8, 30, tzinfo=UTC)
CATALOG = {
    "source": "AWS Price List, bundled",
    "date": "2025-06-01",
    "instances": {
        "g5.xlarge": {
            "gpu": "A10G",
            "gpus": 1,
            "price_usd_hour": {"us-east-1": 1.006, "us-west-2": 1.006},
            "spot_usd_hour": {"us-east-1": 0.45},
        }
    },
}


def test_the_cache_lives_under_llmctl_home():
    assert default_cache_path() == Path(os.environ["LLMCTL_HOME"]) / "cache" / "prices.json"


def test_put_save_load_round_trip():
    cache = PriceCache.load()
    cache.put("g5.xlarge", "us-east-1", 1.006, 0.4521, fetched_at=NOW)
    cache.put("g6e.12xlarge", "us-west-2", 10.49264, None, fetched_at=NOW)
    path = cache.save()
    assert path == default_cache_path() and path.exists()

    again = PriceCache.load()
    quote = again.get("g5.xlarge", "us-east-1", now=NOW)
    assert quote == PriceQuote(
        "g5.xlarge", "us-east-1", 1.006, 0.4521, source="cache", as_of="2025-06-10", stale=False
    )
    assert again.get("g6e.12xlarge", "us-west-2", now=NOW).spot_usd_hour is None
    assert again.get("g5.xlarge", "eu-west-1") is None
    assert [q.region for q in again.quotes(now=NOW)] == ["us-east-1", "us-west-2"]
    entry = json.loads(path.read_text())["entries"][0]
    assert entry["fetched_at"] == "2025-06-10T08:30:00Z"
    assert entry["on_demand_source"] == "aws-pricing-api"
    assert entry["spot_source"] == "aws-spot-history"


def test_the_same_prices_give_the_same_bytes():
    a, b = PriceCache(Path("unused")), PriceCache.load()
    for cache, order in ((a, ["x", "y"]), (b, ["y", "x"])):
        for region in order:
            cache.put("g5.xlarge", region, 1.0, 0.5, fetched_at=NOW)
    a.path = default_cache_path().with_name("a.json")
    assert a.save().read_bytes() == b.save().read_bytes()


@pytest.mark.parametrize(("age_days", "stale"), [(0, False), (6, False), (7.5, True), (30, True)])
def test_entries_older_than_seven_days_are_stale(age_days, stale):
    cache = PriceCache.load()
    cache.put("g5.xlarge", "us-east-1", 1.0, None, fetched_at=NOW - timedelta(days=age_days))
    assert cache.is_stale("g5.xlarge", "us-east-1", now=NOW) is stale
    assert cache.get("g5.xlarge", "us-east-1", now=NOW).stale is stale


def test_max_age_is_configurable_and_a_missing_entry_is_stale():
    cache = PriceCache.load(max_age_days=1)
    cache.put("g5.xlarge", "us-east-1", 1.0, None, fetched_at=NOW - timedelta(days=2))
    assert cache.is_stale("g5.xlarge", "us-east-1", now=NOW)
    assert cache.is_stale("p5.48xlarge", "us-east-1", now=NOW)


@pytest.mark.parametrize("body", ["{not json", '{"entries": [{"region": "x"}]}', "[]"])
def test_an_unreadable_cache_is_an_llmctl_error_with_a_way_out(body):
    path = default_cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(body)
    with pytest.raises(LlmctlError) as info:
        PriceCache.load()
    assert str(path) in info.value.message
    assert "--refresh-prices" in info.value.hint


# --- refresh_prices ---------------------------------------------------------------------------


def _session():
    import boto3

    return boto3.Session()


@pytest.mark.moto
def test_refresh_prices_fetches_both_prices_and_saves_them(
    moto, pricing_client, price_item, expected_filters, ec2_moto
):
    moto_spot = ec2_moto.describe_spot_price_history(
        InstanceTypes=["g5.xlarge"], ProductDescriptions=["Linux/UNIX"]
    )["SpotPriceHistory"]
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {"PriceList": [price_item("g5.xlarge", "us-east-1", "1.0060000000")]},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": expected_filters("g5.xlarge", "us-east-1"),
                "FormatVersion": "aws_v1",
                "MaxResults": 100,
            },
        )
        cache = refresh_prices(
            [("g5.xlarge", "us-east-1"), ("g5.xlarge", "us-east-1")],  # duplicates: one fetch
            session=_session(),
            endpoint_url=moto,
            pricing_client=pricing_client,
            now=NOW,
        )
        stub.assert_no_pending_responses()
    quote = PriceCache.load().get("g5.xlarge", "us-east-1", now=NOW)
    assert quote is not None and cache.get("g5.xlarge", "us-east-1", now=NOW) == quote
    assert quote.on_demand_usd_hour == pytest.approx(1.006)
    assert quote.spot_usd_hour == pytest.approx(float(moto_spot[0]["SpotPrice"]))
    assert (quote.source, quote.as_of, quote.stale) == ("cache", "2025-06-10", False)


@pytest.mark.moto
def test_a_failure_midway_keeps_what_was_fetched(moto, pricing_client, price_item):
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products", {"PriceList": [price_item("g5.xlarge", "us-east-1", "1.006")]}
        )
        stub.add_client_error("get_products", service_error_code="AccessDeniedException")
        with pytest.raises(LlmctlError, match="pricing:GetProducts"):
            refresh_prices(
                [("g5.xlarge", "us-east-1"), ("g6e.xlarge", "us-east-1")],
                session=_session(),
                endpoint_url=moto,
                pricing_client=pricing_client,
                now=NOW,
            )
    saved = PriceCache.load()
    assert saved.get("g5.xlarge", "us-east-1") is not None
    assert saved.get("g6e.xlarge", "us-east-1") is None


@pytest.mark.moto
def test_refresh_without_credentials_points_at_the_catalog(no_credentials, moto):
    with pytest.raises(LlmctlError) as info:
        refresh_prices([("g5.xlarge", "us-east-1")], endpoint_url=moto)
    assert info.value.hint == (
        "configure AWS credentials, e.g. AWS_PROFILE, or use the bundled catalog prices"
    )
    assert not default_cache_path().exists()


def test_a_missing_profile_is_an_llmctl_error(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nobody-has-this-profile")
    with pytest.raises(LlmctlError) as info:
        refresh_prices([("g5.xlarge", "us-east-1")])
    assert "nobody-has-this-profile" in info.value.message
    assert "AWS_PROFILE" in info.value.hint


def test_refresh_with_nothing_to_fetch_touches_nothing():
    cache = refresh_prices([])
    assert cache.quotes() == [] and not default_cache_path().exists()


# --- catalog quotes and choosing between them ------------------------------------------------


def test_quote_from_catalog():
    quote = quote_from_catalog(CATALOG, "g5.xlarge", "us-east-1")
    assert quote == PriceQuote("g5.xlarge", "us-east-1", 1.006, 0.45, "catalog", "2025-06-01")
    assert quote_from_catalog(CATALOG, "g5.xlarge", "us-west-2").spot_usd_hour is None
    assert quote_from_catalog(CATALOG, "g5.xlarge", "eu-west-1") is None
    assert quote_from_catalog(CATALOG, "p5.48xlarge", "us-east-1") is None


def test_resolve_prefers_the_newer_of_cache_and_catalog():
    cache = PriceCache.load()
    cache.put("g5.xlarge", "us-east-1", 1.1, 0.5, fetched_at=NOW)
    assert resolve_quote("g5.xlarge", "us-east-1", CATALOG, cache, now=NOW).source == "cache"

    old = PriceCache.load()
    old.put("g5.xlarge", "us-east-1", 0.9, 0.3, fetched_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert resolve_quote("g5.xlarge", "us-east-1", CATALOG, old, now=NOW).source == "catalog"

    no_on_demand = PriceCache.load()
    no_on_demand.put("g5.xlarge", "us-east-1", None, 0.5, fetched_at=NOW)
    chosen = resolve_quote("g5.xlarge", "us-east-1", CATALOG, no_on_demand, now=NOW)
    assert chosen.source == "catalog" and chosen.on_demand_usd_hour == 1.006

    assert resolve_quote("g5.xlarge", "us-east-1", None, cache, now=NOW).on_demand_usd_hour == 1.1
    assert resolve_quote("g5.xlarge", "eu-west-1", CATALOG, cache) is None


def test_quotes_serialise_to_plain_json():
    quote = quote_from_catalog(CATALOG, "g5.xlarge", "us-east-1")
    assert json.loads(json.dumps(quote.to_json()))["source"] == "catalog"


def test_importing_the_cost_modules_does_not_load_boto3():
    code = (
        "import sys, llmctl.cost.prices, llmctl.cost.actuals; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
