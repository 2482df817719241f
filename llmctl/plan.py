"""The Plan: what an apply would change, per stack, in Pulumi's vocabulary (create/update/delete/same).

Produced either by the engine's preview (a real provider diff) or offline, by running the real
stack programs under Pulumi's mocks and diffing their resource set against the last revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Op = Literal["create", "update", "delete", "same", "replace"]
OPS: tuple[Op, ...] = ("create", "update", "replace", "delete", "same")


@dataclass(frozen=True)
class Resource:
    """A resource a stack program registers: its Pulumi type token, logical name and inputs."""

    type: str  # e.g. "aws:eks/nodeGroup:NodeGroup"
    name: str
    inputs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    summary: str = ""  # one human line, e.g. "g6e.xlarge x 0..8, spot"

    @property
    def urn_key(self) -> str:
        """Identity across revisions: type and name."""
        return f"{self.type}::{self.name}"


@dataclass(frozen=True)
class ResourceChange:
    type: str
    name: str
    op: Op
    summary: str = ""

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "op": self.op}


@dataclass
class StackPlan:
    """The changes for one stack (one cluster, or the global DNS stack)."""

    name: str
    cluster: str
    resources: list[ResourceChange] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, int]:
        counts: dict[str, int] = {op: 0 for op in OPS}
        for r in self.resources:
            counts[r.op] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cluster": self.cluster,
            "changes": self.changes,
            "resources": [r.to_json() for r in self.resources],
        }


@dataclass(frozen=True)
class Baseline:
    """What a plan is diffed against: the last applied revision, or nothing; and when the state
    could not be read (a CI job without credentials), why, so that nobody takes a full create
    and the full cost for the change."""

    revision: int | None = None
    unreadable: str = ""

    @property
    def warning(self) -> str:
        """The loud line of a plan without a baseline ("" when the state was read)."""
        if not self.unreadable:
            return ""
        return (
            f"no baseline: could not read the last applied revision ({self.unreadable}); every "
            "resource shows as new and the cost change is the whole cost. Give this job read-only "
            "access to the state to diff against what runs (README: CI)"
        )

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "read": not self.unreadable, "reason": self.unreadable}


@dataclass
class Plan:
    """A whole plan: every stack, the warnings, and (once priced) the cost summary."""

    offline: bool
    stacks: list[StackPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cost: dict[str, Any] | None = None
    reason: str = ""  # why offline, when it is
    addons: dict[str, list[str]] = field(default_factory=dict)  # cluster -> non-default addons
    baseline: Baseline = field(default_factory=Baseline)

    @property
    def has_changes(self) -> bool:
        return any(r.op != "same" for s in self.stacks for r in s.resources)

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {op: 0 for op in OPS}
        for s in self.stacks:
            for op, n in s.changes.items():
                totals[op] += n
        return totals

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "offline": self.offline,
            "stacks": [s.to_json() for s in self.stacks],
            "warnings": list(self.warnings),
            "addons": {c: list(lines) for c, lines in self.addons.items()},
            "baseline": self.baseline.to_json(),
        }
        if self.cost is not None:
            out["cost"] = self.cost
        return out


def diff_resources(
    desired: list[Resource], current: dict[str, dict[str, Any]] | None
) -> list[ResourceChange]:
    """Structural diff: desired resources against the last applied set (urn_key -> inputs)."""
    current = current or {}
    changes: list[ResourceChange] = []
    seen: set[str] = set()
    for r in desired:
        seen.add(r.urn_key)
        if r.urn_key not in current:
            op: Op = "create"
        elif current[r.urn_key] != r.inputs:
            op = "update"
        else:
            op = "same"
        changes.append(ResourceChange(r.type, r.name, op, r.summary))
    for key in current:
        if key not in seen:
            type_, _, name = key.partition("::")
            changes.append(ResourceChange(type_, name, "delete"))
    return changes
