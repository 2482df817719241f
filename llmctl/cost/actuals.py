"""Actual spend of a deployment, from AWS Cost Explorer, for `llmctl cost --actual --since 30d`.

Costs are filtered by the `llmctl:deployment` tag llmctl puts on every AWS resource it creates,
and grouped by AWS service by default (EC2 instances, EKS, EBS, data transfer): every resource
has a service, whereas a per-model tag does not exist on shared node pools. Pass `group_by_tag`
(e.g. "llmctl:pool") to group by a tag instead. The tag must be activated as a cost allocation
tag in the Billing console before Cost Explorer reports it, and its data lags up to 24 hours.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from llmctl.cost.prices import aws_errors, make_client
from llmctl.errors import LlmctlError

DEPLOYMENT_TAG = "llmctl:deployment"
# Cost Explorer answers from us-east-1 for every region.
COST_EXPLORER_REGION = "us-east-1"
# Cost Explorer keeps 14 months by default and 38 with multi-year data turned on.
MAX_SINCE_DAYS = 38 * 31
METRIC = "UnblendedCost"
TAG_NOT_ACTIVE_NOTE = (
    f"no cost found for the tag {DEPLOYMENT_TAG}: activate it as a cost allocation tag in the "
    "Billing console (Cost allocation tags); Cost Explorer shows tagged costs from then on, "
    "with up to 24 hours of delay"
)

Granularity = Literal["DAILY", "MONTHLY"]

_SINCE = re.compile(r"^\s*(\d+)\s*([dwm])\s*$", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30}


def parse_since(text: str) -> int:
    """Days in a `--since` value: "30d", "12w" or "2m" (a month is 30 days)."""
    match = _SINCE.match(text)
    if not match:
        raise LlmctlError(
            f"--since {text!r} is not a duration",
            hint='write a number and a unit: "30d" (days), "12w" (weeks) or "2m" (months)',
        )
    days = int(match.group(1)) * _UNIT_DAYS[match.group(2).lower()]
    if days < 1:
        raise LlmctlError(f"--since {text!r} is empty", hint='use at least one day, e.g. "1d"')
    if days > MAX_SINCE_DAYS:
        raise LlmctlError(
            f"--since {text!r} is {days} days; Cost Explorer keeps at most 38 months",
            hint='use a shorter window, e.g. "12m"',
        )
    return days


@dataclass
class ActualCosts:
    """What a deployment cost, per period and per group, as Cost Explorer reports it."""

    deployment: str
    start: str  # ISO date, inclusive
    end: str  # ISO date, exclusive
    granularity: Granularity
    group_by: str  # "SERVICE" or "TAG:<key>"
    total_usd: float
    by_day: list[tuple[str, float]]  # (period start, cost); a month's first day when MONTHLY
    by_group: dict[str, float]
    currency: str = "USD"
    estimated: bool = False  # some period is not final yet
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of `llmctl cost --actual --json`."""
        return {
            "deployment": self.deployment,
            "start": self.start,
            "end": self.end,
            "granularity": self.granularity,
            "group_by": self.group_by,
            "currency": self.currency,
            "total_usd": round(self.total_usd, 6),
            "by_day": [{"date": d, "usd": round(usd, 6)} for d, usd in self.by_day],
            "by_group": {k: round(v, 6) for k, v in sorted(self.by_group.items())},
            "estimated": self.estimated,
            "notes": list(self.notes),
        }


def _group_name(key: str, is_tag: bool) -> str:
    # Tag groups come back as "key$value"; an empty value means untagged.
    if is_tag and "$" in key:
        return key.split("$", 1)[1] or "(untagged)"
    return key


def _amount(metrics: dict[str, Any]) -> tuple[float, str | None]:
    metric = metrics.get(METRIC) or {}
    return float(metric.get("Amount", 0) or 0), metric.get("Unit")


def fetch_actual_costs(
    deployment_name: str,
    since_days: int,
    granularity: Granularity = "DAILY",
    ce_client: Any = None,
    *,
    group_by_tag: str | None = None,
    session: Any = None,
    endpoint_url: str | None = None,
    today: date | None = None,
) -> ActualCosts:
    """Cost Explorer's unblended cost of the resources tagged `llmctl:deployment=<name>`.

    The window is the `since_days` days before `today` (UTC); today is left out because
    Cost Explorer has not got its costs yet.
    """
    if granularity not in ("DAILY", "MONTHLY"):
        raise LlmctlError(f"granularity {granularity!r} is not DAILY or MONTHLY")
    if since_days < 1:
        raise LlmctlError(f"--since must be at least one day, got {since_days}")
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=since_days)
    group = (
        {"Type": "TAG", "Key": group_by_tag}
        if group_by_tag
        else {
            "Type": "DIMENSION",
            "Key": "SERVICE",
        }
    )
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": granularity,
        "Metrics": [METRIC],
        "Filter": {
            "Tags": {"Key": DEPLOYMENT_TAG, "Values": [deployment_name], "MatchOptions": ["EQUALS"]}
        },
        "GroupBy": [group],
    }
    action = "ce:GetCostAndUsage"
    client = ce_client or make_client("ce", COST_EXPLORER_REGION, session, endpoint_url)
    per_period: dict[str, float] = defaultdict(float)
    per_group: dict[str, float] = defaultdict(float)
    units: set[str] = set()
    estimated = False
    with aws_errors(action, fallback=None):
        while True:
            page = client.get_cost_and_usage(**kwargs)
            for period in page.get("ResultsByTime", []):
                day = period["TimePeriod"]["Start"]
                estimated = estimated or bool(period.get("Estimated"))
                groups = period.get("Groups") or []
                if groups:
                    for item in groups:
                        usd, unit = _amount(item.get("Metrics", {}))
                        per_group[_group_name(item["Keys"][0], bool(group_by_tag))] += usd
                        per_period[day] += usd
                        units.update([unit] if unit else [])
                else:
                    # Ungrouped answers carry the period's total only.
                    usd, unit = _amount(period.get("Total", {}))
                    per_period[day] += usd
                    units.update([unit] if unit else [])
            token = page.get("NextPageToken")
            if not token:
                break
            # A period's groups may continue on the next page: the sums above absorb that.
            kwargs["NextPageToken"] = token
    if len(units) > 1:
        raise LlmctlError(
            f"Cost Explorer answered in several currencies: {', '.join(sorted(units))}"
        )
    total = sum(per_period.values())
    notes = [] if total or per_group else [TAG_NOT_ACTIVE_NOTE]
    return ActualCosts(
        deployment=deployment_name,
        start=start.isoformat(),
        end=end.isoformat(),
        granularity=granularity,
        group_by=f"TAG:{group_by_tag}" if group_by_tag else "SERVICE",
        total_usd=total,
        by_day=sorted(per_period.items()),
        by_group=dict(per_group),
        currency=units.pop() if units else "USD",
        estimated=estimated,
        notes=notes,
    )
