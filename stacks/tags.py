"""AWS tags every llmctl resource carries: the spec's labels plus llmctl's own keys."""

from __future__ import annotations

from llmctl.ir import Deployment


def aws_tags(
    deployment: Deployment, cluster: str | None = None, pool: str | None = None
) -> dict[str, str]:
    """The spec's labels, then `llmctl:deployment` (and `llmctl:cluster` / `llmctl:pool` when given)."""
    tags = dict(deployment.labels)
    tags["llmctl:deployment"] = deployment.name
    if cluster is not None:
        tags["llmctl:cluster"] = cluster
    if pool is not None:
        tags["llmctl:pool"] = pool
    return tags
