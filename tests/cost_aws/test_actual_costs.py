"""Actual costs from Cost Explorer: moto in server mode with its canned-results API, and
Stubber where the request itself is asserted (moto does not check parameters)."""

from __future__ import annotations

from datetime import date

import pytest
from botocore.stub import Stubber

from llmctl.cost.actuals import TAG_NOT_ACTIVE_NOTE, fetch_actual_costs, parse_since
from llmctl.errors import LlmctlError

TODAY = date(2025, 6, 1)
EC2 = "Amazon Elastic Compute Cloud - Compute"
EKS = "Amazon Elastic Container Service for Kubernetes"
EC2_OTHER = "EC2 - Other"


def _usd(amount: str) -> dict[str, dict[str, str]]:
    return {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}


def _period(start: str, end: str, groups: list[tuple[str, str]], estimated: bool = False):
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [{"Keys": [key], "Metrics": _usd(amount)} for key, amount in groups],
        "Estimated": estimated,
    }


# --- parse_since -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"), [("30d", 30), ("1d", 1), ("12w", 84), ("2m", 60), (" 7D ", 7)]
)
def test_parse_since(text, days):
    assert parse_since(text) == days


@pytest.mark.parametrize("text", ["", "30", "d30", "3y", "1.5d", "-2d", "thirty days"])
def test_parse_since_rejects_what_is_not_a_duration(text):
    with pytest.raises(LlmctlError) as info:
        parse_since(text)
    assert "is not a duration" in info.value.message
    assert '"30d"' in info.value.hint


def test_parse_since_rejects_zero_and_beyond_cost_explorer_history():
    with pytest.raises(LlmctlError, match="empty"):
        parse_since("0d")
    with pytest.raises(LlmctlError, match="38 months"):
        parse_since("40m")


# --- moto: canned Cost Explorer answers over HTTP ---------------------------------------------


@pytest.mark.moto
def test_daily_costs_grouped_by_service(ce_moto, ce_results):
    ce_results(
        [
            {
                "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
                "ResultsByTime": [
                    _period("2025-05-30", "2025-05-31", [(EC2, "24.1440000000"), (EKS, "2.4")]),
                    _period(
                        "2025-05-31",
                        "2025-06-01",
                        [(EC2, "12.072"), (EKS, "2.4"), (EC2_OTHER, "0.66")],
                        estimated=True,
                    ),
                ],
                "DimensionValueAttributes": [],
            }
        ]
    )
    costs = fetch_actual_costs("support-bot", 2, ce_client=ce_moto, today=TODAY)
    assert costs.start == "2025-05-30" and costs.end == "2025-06-01"
    assert costs.by_day == [
        ("2025-05-30", pytest.approx(26.544)),
        ("2025-05-31", pytest.approx(15.132)),
    ]
    assert costs.by_group == {
        EC2: pytest.approx(36.216),
        EKS: pytest.approx(4.8),
        EC2_OTHER: pytest.approx(0.66),
    }
    assert costs.total_usd == pytest.approx(41.676)
    assert costs.currency == "USD"
    assert costs.estimated is True
    assert costs.notes == []
    doc = costs.to_json()
    assert doc["group_by"] == "SERVICE"
    assert doc["by_day"][0] == {"date": "2025-05-30", "usd": 26.544}
    assert doc["total_usd"] == 41.676
    assert list(doc["by_group"]) == sorted(doc["by_group"])


@pytest.mark.moto
def test_follows_next_page_token_and_merges_a_split_period(ce_moto, ce_results):
    # moto answers a request body it has not seen with the next queued result: the second
    # request differs by its NextPageToken, so it gets page two.
    ce_results(
        [
            {
                "ResultsByTime": [_period("2025-05-31", "2025-06-01", [(EC2, "10")])],
                "NextPageToken": "page-2",
            },
            {
                "ResultsByTime": [
                    _period("2025-05-31", "2025-06-01", [(EKS, "2.5")]),
                ],
            },
        ]
    )
    costs = fetch_actual_costs("support-bot", 1, ce_client=ce_moto, today=TODAY)
    assert costs.by_day == [("2025-05-31", pytest.approx(12.5))]
    assert costs.by_group == {EC2: pytest.approx(10.0), EKS: pytest.approx(2.5)}
    assert costs.total_usd == pytest.approx(12.5)


@pytest.mark.moto
def test_grouped_by_a_tag_strips_the_key_and_names_untagged(ce_moto, ce_results):
    ce_results(
        [
            {
                "GroupDefinitions": [{"Type": "TAG", "Key": "llmctl:pool"}],
                "ResultsByTime": [
                    _period(
                        "2025-05-01",
                        "2025-06-01",
                        [("llmctl:pool$l40s", "700.25"), ("llmctl:pool$", "19.75")],
                    )
                ],
            }
        ]
    )
    costs = fetch_actual_costs(
        "support-bot", 31, "MONTHLY", ce_client=ce_moto, group_by_tag="llmctl:pool", today=TODAY
    )
    assert costs.by_group == {"l40s": pytest.approx(700.25), "(untagged)": pytest.approx(19.75)}
    assert costs.by_day == [("2025-05-01", pytest.approx(720.0))]
    assert costs.to_json()["group_by"] == "TAG:llmctl:pool"
    assert costs.granularity == "MONTHLY"


@pytest.mark.moto
def test_nothing_found_says_to_activate_the_cost_allocation_tag(ce_moto):
    # No canned result queued: moto answers with empty ResultsByTime, as AWS does for a tag
    # that was never activated.
    costs = fetch_actual_costs("support-bot", 30, ce_client=ce_moto, today=TODAY)
    assert costs.total_usd == 0
    assert costs.by_day == [] and costs.by_group == {}
    assert costs.notes == [TAG_NOT_ACTIVE_NOTE]
    assert "cost allocation tag" in costs.to_json()["notes"][0]


@pytest.mark.moto
def test_ungrouped_totals_are_read_when_groups_are_absent(ce_moto, ce_results):
    ce_results(
        [
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2025-05-31", "End": "2025-06-01"},
                        "Total": _usd("3.25"),
                        "Groups": [],
                        "Estimated": False,
                    }
                ]
            }
        ]
    )
    costs = fetch_actual_costs("support-bot", 1, ce_client=ce_moto, today=TODAY)
    assert costs.total_usd == pytest.approx(3.25)
    assert costs.by_group == {}


# --- Stubber: the request we send, and errors -------------------------------------------------


@pytest.fixture
def ce_client():
    import boto3

    return boto3.Session().client("ce", region_name="us-east-1")


def test_the_request_filters_by_the_deployment_tag_over_the_window(ce_client):
    with Stubber(ce_client) as stub:
        stub.add_response(
            "get_cost_and_usage",
            {"ResultsByTime": []},
            {
                "TimePeriod": {"Start": "2025-05-02", "End": "2025-06-01"},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost"],
                "Filter": {
                    "Tags": {
                        "Key": "llmctl:deployment",
                        "Values": ["support-bot"],
                        "MatchOptions": ["EQUALS"],
                    }
                },
                "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            },
        )
        fetch_actual_costs("support-bot", parse_since("30d"), ce_client=ce_client, today=TODAY)
        stub.assert_no_pending_responses()


def test_access_denied_names_the_ce_action_without_a_catalog_fallback(ce_client):
    with Stubber(ce_client) as stub:
        stub.add_client_error(
            "get_cost_and_usage",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: ce:GetCostAndUsage",
        )
        with pytest.raises(LlmctlError) as info:
            fetch_actual_costs("support-bot", 30, ce_client=ce_client, today=TODAY)
    assert "ce:GetCostAndUsage" in info.value.message
    assert info.value.hint == "allow the IAM action ce:GetCostAndUsage for these credentials"


def test_several_currencies_are_refused(ce_client):
    rows = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2025-05-31", "End": "2025-06-01"},
                "Groups": [
                    {"Keys": [EC2], "Metrics": _usd("1")},
                    {"Keys": [EKS], "Metrics": {"UnblendedCost": {"Amount": "1", "Unit": "EUR"}}},
                ],
            }
        ]
    }
    with Stubber(ce_client) as stub:
        stub.add_response("get_cost_and_usage", rows)
        with pytest.raises(LlmctlError, match="EUR, USD"):
            fetch_actual_costs("support-bot", 1, ce_client=ce_client, today=TODAY)


def test_bad_arguments_are_llmctl_errors(ce_client):
    with pytest.raises(LlmctlError, match="at least one day"):
        fetch_actual_costs("support-bot", 0, ce_client=ce_client)
    with pytest.raises(LlmctlError, match="HOURLY"):
        fetch_actual_costs("support-bot", 1, "HOURLY", ce_client=ce_client)  # type: ignore[arg-type]


@pytest.mark.moto
def test_no_credentials_gives_a_hint_without_the_catalog(no_credentials, moto):
    with pytest.raises(LlmctlError) as info:
        fetch_actual_costs("support-bot", 30, endpoint_url=moto, today=TODAY)
    assert "credentials" in info.value.message
    assert info.value.hint == "configure AWS credentials, e.g. AWS_PROFILE"
