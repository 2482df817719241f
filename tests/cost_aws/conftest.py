"""Fixtures for the AWS-facing cost layer.

AWS is reached as ARCHITECTURE.md says: moto in server mode over HTTP on 127.0.0.1 for EC2
(spot price history, instance types) and Cost Explorer (moto's canned-results API), and
botocore's Stubber on a real boto3 "pricing" client, since moto has no Pricing service.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Every credential source botocore could look at; cleared so no real profile leaks in.
_AWS_ENV = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake credentials, no config files, no instance metadata, and a private LLMCTL_HOME."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # Never let botocore ask 169.254.169.254 for credentials: nothing leaves loopback.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("LLMCTL_HOME", str(tmp_path / "llmctl-home"))


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere (the config files already point at nothing)."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port; yields its base URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def moto_api(base_url: str, path: str, body: dict[str, Any] | None = None) -> int:
    """POST to moto's own control API (reset, canned results); returns the HTTP status."""
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        f"{base_url}/moto-api/{path}",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return int(resp.status)


@pytest.fixture
def moto(moto_server: str) -> str:
    """The moto server, reset so no state or canned result leaks between tests."""
    assert moto_api(moto_server, "reset") == 200
    return moto_server


@pytest.fixture
def ec2_moto(moto: str) -> Any:
    """A real boto3 EC2 client for us-east-1 talking to moto over HTTP."""
    import boto3

    return boto3.Session().client("ec2", region_name="us-east-1", endpoint_url=moto)


@pytest.fixture
def ce_moto(moto: str) -> Any:
    """A real boto3 Cost Explorer client talking to moto over HTTP."""
    import boto3

    return boto3.Session().client("ce", region_name="us-east-1", endpoint_url=moto)


def set_ce_results(base_url: str, results: list[dict[str, Any]]) -> None:
    """Queue GetCostAndUsage answers in moto (its documented canned-results API)."""
    status = moto_api(base_url, "static/ce/cost-and-usage-results", {"results": results})
    assert status == 201


@pytest.fixture
def pricing_client() -> Any:
    """A real boto3 Pricing client (us-east-1), to be wrapped in a Stubber by the test."""
    import boto3

    return boto3.Session().client("pricing", region_name="us-east-1")


def price_list_item(
    instance_type: str,
    region: str,
    usd: str,
    *,
    operation: str = "RunInstances",
    location: str = "US East (N. Virginia)",
) -> str:
    """One PriceList entry as pricing:GetProducts returns it: a JSON string per product.

    The shape follows the real AmazonEC2 price list (product.attributes, terms.OnDemand and
    terms.Reserved keyed by SKU.offerTermCode, priceDimensions keyed by rateCode).
    """
    sku = hashlib.sha1(f"{instance_type}/{region}/{operation}".encode()).hexdigest()[:16].upper()
    on_demand_code = "JRTCKXETXF"
    rate_code = f"{sku}.{on_demand_code}.6YS6EN2CT7"
    product = {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type,
                "regionCode": region,
                "location": location,
                "locationType": "AWS Region",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "marketoption": "OnDemand",
                "licenseModel": "No License required",
                "operation": operation,
                "usagetype": f"BoxUsage:{instance_type}",
                "servicecode": "AmazonEC2",
                "servicename": "Amazon Elastic Compute Cloud",
                "instanceFamily": "GPU instance",
                "vcpu": "4",
                "memory": "16 GiB",
                "gpu": "1",
                "gpuMemory": "24 GB",
                "currentGeneration": "Yes",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                f"{sku}.{on_demand_code}": {
                    "priceDimensions": {
                        rate_code: {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": f"${usd} per On Demand Linux {instance_type} "
                            "Instance Hour",
                            "appliesTo": [],
                            "rateCode": rate_code,
                            "beginRange": "0",
                            "pricePerUnit": {"USD": usd},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": on_demand_code,
                    "termAttributes": {},
                }
            },
            # Reserved terms ride along in the same product; they must not be read as on-demand.
            "Reserved": {
                f"{sku}.38NPMPTW36": {
                    "priceDimensions": {
                        f"{sku}.38NPMPTW36.2TG2D8R56U": {
                            "unit": "Quantity",
                            "description": "Upfront Fee",
                            "appliesTo": [],
                            "rateCode": f"{sku}.38NPMPTW36.2TG2D8R56U",
                            "pricePerUnit": {"USD": "4321"},
                        },
                        f"{sku}.38NPMPTW36.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": "Linux reserved hourly fee",
                            "appliesTo": [],
                            "rateCode": f"{sku}.38NPMPTW36.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": "0.1234000000"},
                        },
                    },
                    "sku": sku,
                    "effectiveDate": "2025-06-01T00:00:00Z",
                    "offerTermCode": "38NPMPTW36",
                    "termAttributes": {
                        "LeaseContractLength": "3yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "Partial Upfront",
                    },
                }
            },
        },
        "version": "20250601000000",
        "publicationDate": "2025-06-01T00:00:00Z",
    }
    return json.dumps(product)


def on_demand_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """The exact Filters the design asks fetch_on_demand_price to send."""
    pairs = [
        ("instanceType", instance_type),
        ("regionCode", region),
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
        ("marketoption", "OnDemand"),
    ]
    return [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in pairs]


@pytest.fixture
def price_item() -> Callable[..., str]:
    """The PriceList entry builder, for tests."""
    return price_list_item


@pytest.fixture
def expected_filters() -> Callable[[str, str], list[dict[str, str]]]:
    """The Filters builder, for tests."""
    return on_demand_filters


@pytest.fixture
def ce_results(moto: str) -> Callable[[list[dict[str, Any]]], None]:
    """Queue canned GetCostAndUsage answers in the (reset) moto server."""
    return lambda results: set_ce_results(moto, results)


@pytest.fixture
def ec2_client() -> Any:
    """A real boto3 EC2 client for us-east-1 with no endpoint override, for Stubber tests."""
    import boto3

    return boto3.Session().client("ec2", region_name="us-east-1")
