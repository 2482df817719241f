"""Every AWS Region with GPU instances is known; a price that is not bundled is said so, and a
live one (`cost --refresh-prices`) is used (issue 10, point 14)."""

from __future__ import annotations

import json

import pytest

from llmctl import catalog
from tests.conftest import example


@pytest.fixture
def mumbai(tmp_path):
    spec = tmp_path / "llm.yaml"
    text = example("aws").read_text().replace("us-east-1", "ap-south-1")
    lines = [ln for ln in text.splitlines() if not ln.startswith("state:")]  # local state
    spec.write_text("\n".join(lines) + "\n")
    return spec


def test_the_catalog_knows_the_gpu_regions_beyond_the_priced_ones():
    known = catalog.aws_regions()
    for region in ("ap-south-1", "eu-central-1", "ap-northeast-1", "us-east-2", "sa-east-1"):
        assert region in known
    assert set(catalog.regions()) <= set(known)


def test_an_unbundled_region_validates_and_says_its_price_is_not_bundled(cli, mumbai):
    code, out, err = cli("validate", "-f", str(mumbai), "--json")
    data = json.loads(out)
    assert code == 0 and data["valid"] is True
    said = [w for w in data["warnings"] if "no bundled price" in w["message"]]
    assert said and all("ap-south-1" in w["message"] for w in said)
    assert all("llmctl cost --refresh-prices" in w["hint"] for w in said)


def test_a_typo_in_a_region_gets_did_you_mean(cli, mumbai):
    mumbai.write_text(mumbai.read_text().replace("ap-south-1", "ap-sout-1"))
    code, _, err = cli("validate", "-f", str(mumbai))
    assert code == 1 and "unknown region 'ap-sout-1'" in err and "did you mean 'ap-south-1'" in err


def test_a_live_price_is_used_where_none_is_bundled(cli, mumbai):
    from llmctl.cost.prices import PriceCache

    cache = PriceCache.load()
    for it in ("g6e.xlarge", "p5.48xlarge"):
        cache.put(it, "ap-south-1", 2.0, 1.0)
    cache.save()
    code, out, _ = cli("cost", "-f", str(mumbai), "--json")
    data = json.loads(out)
    assert code == 0
    pools = {p["pool"]: p for p in data["by_pool"]}
    assert all(p["price"]["node_hour_usd"] == 2.0 for p in pools.values())
    assert "cache" in data["prices"]["source"]
