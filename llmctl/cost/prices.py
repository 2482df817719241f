"""Instance prices: live AWS prices (Price List API, spot history), their cache, catalog quotes.

The bundled catalog is dated and always available; live prices need AWS credentials and are
fetched only on `llmctl cost --refresh-prices`, then kept under $LLMCTL_HOME/cache/prices.json
with the time they were fetched, so plan and cost stay offline and repeatable.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from llmctl.errors import LlmctlError

PriceSource = Literal["catalog", "aws-pricing-api", "aws-spot-history", "cache"]

# The Price List Query API is served from a few regions only; us-east-1 answers for all regions.
PRICING_API_REGION = "us-east-1"
CACHE_VERSION = 1
DEFAULT_MAX_AGE_DAYS = 7
CATALOG_FALLBACK = "use the bundled catalog prices"

# Error codes, as the services spell them (EC2 differs from the JSON services).
_ACCESS_DENIED = frozenset(
    ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"]
)
_BAD_CREDENTIALS = frozenset(
    [
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    ]
)


@dataclass(frozen=True)
class PriceQuote:
    """The hourly price of one instance type in one region, with where it came from and when."""

    instance_type: str
    region: str
    on_demand_usd_hour: float | None
    spot_usd_hour: float | None
    source: PriceSource
    as_of: str  # ISO date
    stale: bool = False  # a cache entry older than the cache's max age

    def to_json(self) -> dict[str, Any]:
        """A plain dict for `--json` output."""
        return asdict(self)


def default_cache_path() -> Path:
    """Where refreshed prices are kept: $LLMCTL_HOME/cache/prices.json."""
    from llmctl.home import llmctl_home

    return llmctl_home() / "cache" / "prices.json"


@contextmanager
def aws_errors(action: str, fallback: str | None = CATALOG_FALLBACK) -> Iterator[None]:
    """Turn botocore failures inside the block into LlmctlError naming the IAM `action`.

    `fallback` is what the user can do without AWS; it ends every hint.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    or_else = f", or {fallback}" if fallback else ""
    credentials_hint = f"configure AWS credentials, e.g. AWS_PROFILE{or_else}"
    try:
        yield
    except NoRegionError as exc:
        raise LlmctlError(
            f"no AWS region for {action}: {exc}",
            hint=f"set AWS_REGION or a region in the AWS profile{or_else}",
        ) from exc
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound) as exc:
        raise LlmctlError(
            f"no usable AWS credentials for {action}: {exc}", hint=credentials_hint
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = str(error.get("Message", "")) or str(exc)
        if code in _ACCESS_DENIED:
            raise LlmctlError(
                f"AWS denied {action}: {detail}",
                hint=f"allow the IAM action {action} for these credentials{or_else}",
            ) from exc
        if code in _BAD_CREDENTIALS:
            raise LlmctlError(
                f"AWS rejected the credentials ({code}): {detail}", hint=credentials_hint
            ) from exc
        raise LlmctlError(f"AWS call {action} failed ({code}): {detail}") from exc
    except EndpointConnectionError as exc:
        raise LlmctlError(
            f"could not reach AWS for {action}: {exc}",
            hint=f"check the network and proxy settings{or_else}",
        ) from exc
    except BotoCoreError as exc:
        raise LlmctlError(f"AWS call {action} failed: {exc}", hint=credentials_hint) from exc


def make_client(
    service: str, region: str, session: Any = None, endpoint_url: str | None = None
) -> Any:
    """A boto3 client for `service` in `region` from `session` (default: a new boto3 Session)."""
    import boto3

    with aws_errors(f"creating a {service} client"):
        session = session or boto3.Session()
        return session.client(service, region_name=region, endpoint_url=endpoint_url)


# --- live prices -------------------------------------------------------------------------------


def _on_demand_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    # One product per filter set: plain Linux, shared tenancy, no pre-installed software, the
    # price of a running instance (capacitystatus=Used), not of an unused reservation.
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "marketoption": "OnDemand",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def _hourly_usd(price_item: str | Mapping[str, Any]) -> list[tuple[str, float]]:
    """(operation, USD per hour) for each on-demand price dimension of one PriceList entry."""
    item = json.loads(price_item) if isinstance(price_item, str) else price_item
    operation = str(item.get("product", {}).get("attributes", {}).get("operation", ""))
    found: list[tuple[str, float]] = []
    for term in item.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None and str(dim.get("unit", "Hrs")).lower().startswith("hr"):
                found.append((operation, float(usd)))
    return found


def fetch_on_demand_price(pricing_client: Any, instance_type: str, region: str) -> float | None:
    """The on-demand Linux USD/hour of `instance_type` in `region` from pricing:GetProducts."""
    prices: list[tuple[str, float]] = []
    kwargs: dict[str, Any] = {
        "ServiceCode": "AmazonEC2",
        "Filters": _on_demand_filters(instance_type, region),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    with aws_errors("pricing:GetProducts"):
        while True:
            page = pricing_client.get_products(**kwargs)
            for raw in page.get("PriceList", []):
                try:
                    prices.extend(_hourly_usd(raw))
                except (ValueError, TypeError, AttributeError) as exc:
                    raise LlmctlError(
                        f"pricing:GetProducts returned an entry llmctl cannot read: {exc}",
                        hint=f"retry later, or {CATALOG_FALLBACK}",
                    ) from exc
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    # The filters should leave one product; if a license variant slips through, the plain
    # "RunInstances" operation is the Linux price, and zero is never a real running price.
    plain = [usd for op, usd in prices if op == "RunInstances" and usd > 0]
    positive = plain or [usd for _, usd in prices if usd > 0]
    return min(positive) if positive else None


def fetch_spot_price(
    ec2_client: Any, instance_type: str, region: str, now: datetime | None = None
) -> float | None:
    """The median across availability zones of the latest Linux spot price per zone."""
    client_region = getattr(getattr(ec2_client, "meta", None), "region_name", region)
    if client_region != region:
        raise ValueError(f"ec2 client is for {client_region}, asked for spot prices in {region}")
    start = (now or datetime.now(UTC)) - timedelta(hours=1)
    latest: dict[str, tuple[datetime, float]] = {}
    kwargs: dict[str, Any] = {
        "InstanceTypes": [instance_type],
        "ProductDescriptions": ["Linux/UNIX"],
        # AWS also returns the last change before StartTime: the price in effect at the start.
        "StartTime": start,
        "MaxResults": 1000,
    }
    with aws_errors("ec2:DescribeSpotPriceHistory"):
        while True:
            page = ec2_client.describe_spot_price_history(**kwargs)
            for item in page.get("SpotPriceHistory", []):
                if item.get("InstanceType") != instance_type:
                    continue
                zone, stamp = item["AvailabilityZone"], item["Timestamp"]
                if zone not in latest or stamp > latest[zone][0]:
                    latest[zone] = (stamp, float(item["SpotPrice"]))
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    if not latest:
        return None
    return float(statistics.median(price for _, price in latest.values()))


def fetch_instance_gpu_info(ec2_client: Any, instance_type: str) -> dict[str, Any]:
    """GPU model, count and memory (per GPU), vCPUs and memory of an instance type."""
    from botocore.exceptions import ClientError

    unknown = LlmctlError(
        f"unknown instance type {instance_type!r}",
        hint="use an EC2 instance type name such as g5.xlarge",
    )
    with aws_errors("ec2:DescribeInstanceTypes"):
        try:
            resp = ec2_client.describe_instance_types(InstanceTypes=[instance_type])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceType":
                raise unknown from exc
            raise
    types = resp.get("InstanceTypes", [])
    if not types:
        raise unknown
    info = types[0]
    gpus = info.get("GpuInfo", {}).get("Gpus", [])
    gpu = gpus[0] if gpus else {}
    return {
        "instance_type": info["InstanceType"],
        "gpu": gpu.get("Name"),
        "gpu_manufacturer": gpu.get("Manufacturer"),
        "gpus": int(gpu.get("Count", 0)),
        "gpu_memory_gib": round(gpu.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 2),
        "vcpus": int(info.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
        "memory_gib": round(info.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 2),
    }


# --- the cache ---------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class PriceCache:
    """Live prices fetched from AWS, one entry per (instance type, region), each with fetched_at."""

    def __init__(
        self,
        path: Path | None = None,
        entries: Mapping[str, Mapping[str, Any]] | None = None,
        max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    ) -> None:
        self.path = path or default_cache_path()
        self.max_age_days = max_age_days
        self._entries: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (entries or {}).items()}

    @staticmethod
    def _key(instance_type: str, region: str) -> str:
        return f"{region}/{instance_type}"

    @classmethod
    def load(cls, path: Path | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> PriceCache:
        """Read the cache file; a missing file is an empty cache."""
        path = path or default_cache_path()
        if not path.exists():
            return cls(path, {}, max_age_days)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {cls._key(e["instance_type"], e["region"]): e for e in data["entries"]}
            for entry in entries.values():
                _parse_iso(entry["fetched_at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LlmctlError(
                f"the price cache {path} is unreadable: {exc}",
                hint="delete it, or run `llmctl cost --refresh-prices` to write it again",
            ) from exc
        return cls(path, entries, max_age_days)

    def save(self) -> Path:
        """Write the cache atomically (sorted, so the same prices give the same bytes)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": CACHE_VERSION,
            "entries": [self._entries[k] for k in sorted(self._entries)],
        }
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        return self.path

    def put(
        self,
        instance_type: str,
        region: str,
        on_demand_usd_hour: float | None,
        spot_usd_hour: float | None,
        fetched_at: datetime | None = None,
    ) -> None:
        """Record prices just fetched from AWS."""
        self._entries[self._key(instance_type, region)] = {
            "instance_type": instance_type,
            "region": region,
            "on_demand_usd_hour": on_demand_usd_hour,
            "on_demand_source": "aws-pricing-api",
            "spot_usd_hour": spot_usd_hour,
            "spot_source": "aws-spot-history",
            "fetched_at": _iso(fetched_at or _utc_now()),
        }

    def is_stale(self, instance_type: str, region: str, now: datetime | None = None) -> bool:
        """True when the entry is missing or older than `max_age_days`."""
        entry = self._entries.get(self._key(instance_type, region))
        if entry is None:
            return True
        age = (now or _utc_now()) - _parse_iso(entry["fetched_at"])
        return age > timedelta(days=self.max_age_days)

    def get(
        self, instance_type: str, region: str, now: datetime | None = None
    ) -> PriceQuote | None:
        """The cached quote (source "cache", flagged stale when old), or None."""
        entry = self._entries.get(self._key(instance_type, region))
        if entry is None:
            return None
        return PriceQuote(
            instance_type=instance_type,
            region=region,
            on_demand_usd_hour=entry.get("on_demand_usd_hour"),
            spot_usd_hour=entry.get("spot_usd_hour"),
            source="cache",
            as_of=_parse_iso(entry["fetched_at"]).date().isoformat(),
            stale=self.is_stale(instance_type, region, now),
        )

    def quotes(self, now: datetime | None = None) -> list[PriceQuote]:
        """Every cached quote, sorted by region then instance type."""
        out = []
        for key in sorted(self._entries):
            entry = self._entries[key]
            quote = self.get(entry["instance_type"], entry["region"], now)
            if quote is not None:
                out.append(quote)
        return out


def refresh_prices(
    instance_types: Iterable[tuple[str, str]],
    session: Any = None,
    endpoint_url: str | None = None,
    *,
    pricing_client: Any = None,
    cache: PriceCache | None = None,
    now: datetime | None = None,
) -> PriceCache:
    """Fetch on-demand and spot prices for each (instance_type, region) and save them to the cache.

    `endpoint_url` points every client at another endpoint (tests, LocalStack);
    `pricing_client` replaces the Pricing client alone.
    """
    cache = cache or PriceCache.load()
    pairs = list(dict.fromkeys(instance_types))  # de-duplicate, keep order
    if not pairs:
        return cache
    if session is None:
        import boto3

        with aws_errors("creating an AWS session"):
            session = boto3.Session()
    pricing = pricing_client or make_client("pricing", PRICING_API_REGION, session, endpoint_url)
    ec2_clients: dict[str, Any] = {}
    fetched = 0
    try:
        for instance_type, region in pairs:
            if region not in ec2_clients:
                ec2_clients[region] = make_client("ec2", region, session, endpoint_url)
            on_demand = fetch_on_demand_price(pricing, instance_type, region)
            spot = fetch_spot_price(ec2_clients[region], instance_type, region, now=now)
            cache.put(instance_type, region, on_demand, spot, fetched_at=now)
            fetched += 1
    finally:
        # Keep what was fetched before a failure: a retry then only has the rest to do.
        if fetched:
            cache.save()
    return cache


# --- the catalog and choosing a quote ----------------------------------------------------------


def quote_from_catalog(
    catalog: Mapping[str, Any], instance_type: str, region: str
) -> PriceQuote | None:
    """A quote from the bundled catalog dict ({"source","date","instances": {...}}), or None."""
    entry = catalog.get("instances", {}).get(instance_type)
    if entry is None:
        return None
    on_demand = entry.get("price_usd_hour", {}).get(region)
    spot = entry.get("spot_usd_hour", {}).get(region)
    if on_demand is None and spot is None:
        return None
    return PriceQuote(
        instance_type=instance_type,
        region=region,
        on_demand_usd_hour=None if on_demand is None else float(on_demand),
        spot_usd_hour=None if spot is None else float(spot),
        source="catalog",
        as_of=str(catalog.get("date", "")),
    )


def resolve_quote(
    instance_type: str,
    region: str,
    catalog: Mapping[str, Any] | None = None,
    cache: PriceCache | None = None,
    now: datetime | None = None,
) -> PriceQuote | None:
    """The newest quote with an on-demand price: the cache when at least as new, else catalog."""
    candidates = [
        q
        for q in (
            cache.get(instance_type, region, now) if cache else None,
            quote_from_catalog(catalog, instance_type, region) if catalog else None,
        )
        if q is not None
    ]
    priced = [q for q in candidates if q.on_demand_usd_hour is not None] or candidates
    if not priced:
        return None
    # Stable max: on equal dates the first candidate (the cache) wins.
    return max(priced, key=lambda q: q.as_of)
