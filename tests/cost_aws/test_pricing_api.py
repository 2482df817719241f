"""On-demand prices from pricing:GetProducts, through botocore's Stubber (moto has no Pricing).

The Stubber validates both our request and the canned response against the real service model,
and the PriceList entries have the real AmazonEC2 price-list shape.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from llmctl.cost.prices import fetch_on_demand_price
from llmctl.errors import LlmctlError


def _params(filters: list[dict[str, str]], token: str | None = None) -> dict[str, object]:
    params: dict[str, object] = {
        "ServiceCode": "AmazonEC2",
        "Filters": filters,
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    if token:
        params["NextToken"] = token
    return params


def test_reads_the_on_demand_hourly_price_and_sends_the_designed_filters(
    pricing_client, price_item, expected_filters
):
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {
                "FormatVersion": "aws_v1",
                "PriceList": [price_item("g5.xlarge", "us-east-1", "1.0060000000")],
            },
            _params(expected_filters("g5.xlarge", "us-east-1")),
        )
        price = fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1")
        stub.assert_no_pending_responses()
    # 1.006, not the reserved hourly fee (0.1234) nor the upfront fee that share the product.
    assert price == pytest.approx(1.006)


def test_follows_next_token_across_pages(pricing_client, price_item, expected_filters):
    filters = expected_filters("g6e.12xlarge", "us-west-2")
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {"FormatVersion": "aws_v1", "PriceList": [], "NextToken": "page-2"},
            _params(filters),
        )
        stub.add_response(
            "get_products",
            {
                "FormatVersion": "aws_v1",
                "PriceList": [
                    price_item("g6e.12xlarge", "us-west-2", "10.4926400000", location="US West")
                ],
            },
            _params(filters, "page-2"),
        )
        price = fetch_on_demand_price(pricing_client, "g6e.12xlarge", "us-west-2")
        stub.assert_no_pending_responses()
    assert price == pytest.approx(10.49264)


def test_prefers_the_plain_runinstances_product_when_a_variant_slips_through(
    pricing_client, price_item
):
    # A licensed variant that matched the same filters must not lower or raise the price.
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {
                "FormatVersion": "aws_v1",
                "PriceList": [
                    price_item(
                        "g5.xlarge", "us-east-1", "0.9000000000", operation="RunInstances:0g00"
                    ),
                    price_item("g5.xlarge", "us-east-1", "1.0060000000"),
                ],
            },
        )
        assert fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1") == pytest.approx(
            1.006
        )


def test_no_product_means_no_price(pricing_client):
    with Stubber(pricing_client) as stub:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []})
        assert fetch_on_demand_price(pricing_client, "g5.xlarge", "mars-north-1") is None


def test_a_zero_price_is_not_a_price(pricing_client, price_item):
    with Stubber(pricing_client) as stub:
        stub.add_response(
            "get_products",
            {"PriceList": [price_item("g5.xlarge", "us-east-1", "0.0000000000")]},
        )
        assert fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1") is None


def test_an_unreadable_price_list_entry_is_an_llmctl_error(pricing_client):
    with Stubber(pricing_client) as stub:
        stub.add_response("get_products", {"PriceList": ['{"terms": {"OnDemand": [1, 2]}}']})
        with pytest.raises(LlmctlError) as info:
            fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1")
    assert "cannot read" in info.value.message
    assert "bundled catalog" in info.value.hint


def test_access_denied_names_the_iam_action(pricing_client):
    with Stubber(pricing_client) as stub:
        stub.add_client_error(
            "get_products",
            service_error_code="AccessDeniedException",
            service_message="User: arn:aws:iam::123456789012:user/ci is not authorized to "
            "perform: pricing:GetProducts",
            http_status_code=400,
        )
        with pytest.raises(LlmctlError) as info:
            fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1")
    assert "pricing:GetProducts" in info.value.message
    assert "allow the IAM action pricing:GetProducts" in info.value.hint
    assert "bundled catalog" in info.value.hint


def test_rejected_credentials_say_how_to_configure_them(pricing_client):
    with Stubber(pricing_client) as stub:
        stub.add_client_error(
            "get_products",
            service_error_code="UnrecognizedClientException",
            service_message="The security token included in the request is invalid.",
            http_status_code=400,
        )
        with pytest.raises(LlmctlError) as info:
            fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1")
    assert "rejected the credentials" in info.value.message
    assert "AWS_PROFILE" in info.value.hint


def test_other_service_errors_keep_their_code(pricing_client):
    with Stubber(pricing_client) as stub:
        stub.add_client_error(
            "get_products",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
        )
        with pytest.raises(LlmctlError) as info:
            fetch_on_demand_price(pricing_client, "g5.xlarge", "us-east-1")
    assert "ThrottlingException" in info.value.message
    assert "Rate exceeded" in info.value.message


@pytest.mark.moto
def test_no_credentials_is_an_llmctl_error_with_the_hint(no_credentials, moto):
    import boto3

    # A fresh session: boto3's default one may hold credentials from an earlier test.
    # Pointed at loopback so that, credentials or not, nothing could leave the machine.
    client = boto3.Session().client("pricing", region_name="us-east-1", endpoint_url=moto)
    with pytest.raises(LlmctlError) as info:
        fetch_on_demand_price(client, "g5.xlarge", "us-east-1")
    assert "credentials" in info.value.message
    assert info.value.hint == (
        "configure AWS credentials, e.g. AWS_PROFILE, or use the bundled catalog prices"
    )
