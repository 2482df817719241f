"""Spot prices and instance type data: moto in server mode on loopback, plus Stubber for the
median-of-latest logic (moto's spot history has one constant price per zone)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from llmctl.cost.prices import fetch_instance_gpu_info, fetch_spot_price
from llmctl.errors import LlmctlError

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _row(zone: str, price: str, minutes_ago: int, itype: str = "g5.xlarge") -> dict[str, object]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": itype,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": price,
        "Timestamp": NOW - timedelta(minutes=minutes_ago),
    }


# --- moto -----------------------------------------------------------------------------------


@pytest.mark.moto
def test_spot_price_against_moto_matches_the_raw_history(ec2_moto):
    raw = ec2_moto.describe_spot_price_history(
        InstanceTypes=["g5.xlarge"], ProductDescriptions=["Linux/UNIX"]
    )["SpotPriceHistory"]
    zones = {row["AvailabilityZone"] for row in raw}
    assert len(zones) >= 2, "moto should offer g5.xlarge in several us-east-1 zones"
    # The expectation, computed independently from the very response moto gives.
    latest = {}
    for row in sorted(raw, key=lambda r: r["Timestamp"]):
        latest[row["AvailabilityZone"]] = float(row["SpotPrice"])
    expected = statistics.median(latest.values())

    assert fetch_spot_price(ec2_moto, "g5.xlarge", "us-east-1") == pytest.approx(expected)


@pytest.mark.moto
def test_gpu_info_of_g5_xlarge_from_moto(ec2_moto):
    raw = ec2_moto.describe_instance_types(InstanceTypes=["g5.xlarge"])["InstanceTypes"][0]
    info = fetch_instance_gpu_info(ec2_moto, "g5.xlarge")
    assert info["instance_type"] == "g5.xlarge"
    assert info["gpu"] == "A10G"
    assert info["gpu_manufacturer"] == "NVIDIA"
    assert info["gpus"] == 1
    expected_gib = round(raw["GpuInfo"]["Gpus"][0]["MemoryInfo"]["SizeInMiB"] / 1024, 2)
    assert info["gpu_memory_gib"] == expected_gib
    assert info["vcpus"] == 4
    assert info["memory_gib"] == 16.0


@pytest.mark.moto
@pytest.mark.parametrize(
    ("itype", "gpu", "count"), [("g6e.12xlarge", "L40S", 4), ("p4d.24xlarge", "A100", 8)]
)
def test_gpu_info_of_multi_gpu_types_from_moto(ec2_moto, itype, gpu, count):
    info = fetch_instance_gpu_info(ec2_moto, itype)
    assert (info["gpu"], info["gpus"]) == (gpu, count)
    assert info["gpu_memory_gib"] > 20  # per GPU, not the instance total


@pytest.mark.moto
def test_a_cpu_type_has_no_gpu(ec2_moto):
    info = fetch_instance_gpu_info(ec2_moto, "m5.large")
    assert (info["gpu"], info["gpus"], info["gpu_memory_gib"]) == (None, 0, 0.0)
    assert info["vcpus"] == 2


@pytest.mark.moto
def test_an_unknown_type_is_an_llmctl_error(ec2_moto):
    with pytest.raises(LlmctlError) as info:
        fetch_instance_gpu_info(ec2_moto, "zz9.huge")
    assert "unknown instance type 'zz9.huge'" in info.value.message
    assert "g5.xlarge" in info.value.hint


# --- Stubber: the real response shape, chosen values -----------------------------------------


def test_median_of_the_latest_price_per_zone_across_pages(ec2_client):
    expected_first = {
        "InstanceTypes": ["g5.xlarge"],
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": NOW - timedelta(hours=1),
        "MaxResults": 1000,
    }
    with Stubber(ec2_client) as stub:
        stub.add_response(
            "describe_spot_price_history",
            {
                "SpotPriceHistory": [
                    _row("us-east-1a", "0.9000", 5),  # latest in 1a
                    _row("us-east-1a", "0.3000", 50),
                    _row("us-east-1b", "0.4000", 70),  # older, before StartTime: in effect then
                    _row("us-east-1c", "0.2000", 40),
                    _row("us-east-1c", "9.9900", 1, itype="g5.2xlarge"),  # another type
                ],
                "NextToken": "t2",
            },
            expected_first,
        )
        stub.add_response(
            "describe_spot_price_history",
            {
                "SpotPriceHistory": [
                    _row("us-east-1b", "0.5000", 10),  # latest in 1b
                    _row("us-east-1c", "0.6000", 30),  # latest in 1c
                ],
                "NextToken": "",
            },
            {**expected_first, "NextToken": "t2"},
        )
        price = fetch_spot_price(ec2_client, "g5.xlarge", "us-east-1", now=NOW)
        stub.assert_no_pending_responses()
    # latest per zone: 1a 0.90, 1b 0.50, 1c 0.60 -> median 0.60
    assert price == pytest.approx(0.60)


def test_even_number_of_zones_averages_the_middle_two(ec2_client):
    rows = [_row("us-east-1a", "0.1", 1), _row("us-east-1b", "0.2", 1)]
    rows += [_row("us-east-1c", "0.4", 1), _row("us-east-1d", "1.0", 1)]
    with Stubber(ec2_client) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": rows})
        assert fetch_spot_price(ec2_client, "g5.xlarge", "us-east-1", now=NOW) == pytest.approx(0.3)


def test_no_history_means_no_spot_price(ec2_client):
    with Stubber(ec2_client) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []})
        assert fetch_spot_price(ec2_client, "p5.48xlarge", "us-east-1", now=NOW) is None


def test_unauthorized_names_the_ec2_action(ec2_client):
    with Stubber(ec2_client) as stub:
        stub.add_client_error(
            "describe_spot_price_history",
            service_error_code="UnauthorizedOperation",
            service_message="You are not authorized to perform this operation.",
            http_status_code=403,
        )
        with pytest.raises(LlmctlError) as info:
            fetch_spot_price(ec2_client, "g5.xlarge", "us-east-1", now=NOW)
    assert "ec2:DescribeSpotPriceHistory" in info.value.message
    assert "ec2:DescribeSpotPriceHistory" in info.value.hint


def test_a_client_for_another_region_is_refused(ec2_client):
    with pytest.raises(ValueError, match="us-east-1.*eu-west-1"):
        fetch_spot_price(ec2_client, "g5.xlarge", "eu-west-1")
