"""The one engine entry point: a Release applied to its stacks.

`StackRunner.apply(release, last)` is how apply, every rollout step and a rollback change the
clusters: it renders the release's objects (with a rollout step's `Overlay` on top), builds the
stack definitions, and runs `pulumi up` on each stack in order, the DNS stack last with the
gateway endpoints the cluster stacks just exported. A rollout step updates the cluster stacks
only (it never moves an endpoint) and carries the DNS stack's record over from `last`, so the
revision a rollout closes with is a full baseline for the next plan.

The runner is passed to whoever needs it (the rollout driver's step applier, `rollback`); tests
pass a recording stand-in with the same `apply` method.

What a run's `record()` holds (a revision's `outputs`):

    {"stacks":    {stack: {"cluster": c, "kind": k, "outputs": {name: value}}},
     "endpoints": {cluster: gateway endpoint},
     "resources": {stack: {"type::name": inputs}}}   # the offline plan's baseline
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmctl.engine import workspace
from llmctl.engine.backend import llmctl_home, passphrase_env, state_url
from llmctl.engine.workspace import EngineConfig, OnProgress
from llmctl.plan import Resource
from llmctl.release import Release
from llmctl.releases.revisions import Revision

Obj = dict[str, Any]


@dataclass(frozen=True)
class Overlay:
    """A rollout step on top of a release: objects by cluster that replace those of the same
    kind, namespace and name (or are added), and the gateway's canary weights {model: percent}."""

    objects: Mapping[str, list[Obj]] = field(default_factory=dict)
    weights: Mapping[str, int] = field(default_factory=dict)


class Applier(Protocol):
    """What the rollout driver and rollback need of the engine."""

    def apply(
        self, release: Release, last: Revision | None, overlay: Overlay | None = None
    ) -> StackRun: ...


class StackRun:
    """What a run has done so far: per-stack outputs, endpoints and resource sets."""

    def __init__(self, resources: dict[str, list[Resource]] | None = None) -> None:
        self.resources: dict[str, list[Resource]] = dict(resources or {})
        self.stacks: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, str] = {}
        self.carried: dict[str, dict[str, Any]] = {"stacks": {}, "resources": {}}

    def done(self, stack: str, cluster: str, kind: str, outputs: dict[str, Any]) -> None:
        self.stacks[stack] = {"cluster": cluster, "kind": kind, "outputs": outputs}
        if cluster and isinstance(outputs.get("gateway_endpoint"), str):
            self.endpoints[cluster] = outputs["gateway_endpoint"]

    def record(self) -> dict[str, Any]:
        """The revision's outputs; resource sets only of the stacks that were applied (plus
        those carried over unchanged from the last revision)."""
        out: dict[str, Any] = {
            "stacks": dict(self.stacks),
            "endpoints": dict(self.endpoints),
            "resources": {
                name: {r.urn_key: r.inputs for r in self.resources[name]} for name in self.stacks
            },
        }
        for key in ("stacks", "resources"):
            for name, value in self.carried[key].items():
                out[key].setdefault(name, value)
        return out


def engine_config(deployment: str, url: str, command: Any = None) -> EngineConfig:
    """The Pulumi CLI, backend URL, passphrase and work directory for a deployment's stacks."""
    env = {**passphrase_env(url), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    return EngineConfig(
        backend_url=url,
        env=env,
        work_dir=llmctl_home() / "work" / deployment,
        command=workspace.pulumi_command(command),
    )


def recorded(last: Revision | None, key: str) -> dict[str, Any]:
    """One part of the last revision's outputs (endpoints, stacks, resources), or {}."""
    value = last.outputs.get(key) if last is not None else None
    return value if isinstance(value, dict) else {}


def stacks_module() -> Any:
    """The stack programs (the repository's stacks/, installed as llmctl.stacks)."""
    import llmctl.stacks

    return llmctl.stacks


def stack_defs(
    release: Release,
    endpoints: Mapping[str, str] | None,
    require: bool = True,
    overlay: Overlay | None = None,
) -> list[Any]:
    """Every StackDef of the release, with the rendered objects of each cluster."""
    from llmctl.render.cluster import render_cluster_objects

    d = release.deployment
    weights = overlay.weights if overlay is not None else None
    objects = {
        c.name: merge_objects(
            render_cluster_objects(d, c.name, release.images, canary=weights),
            list(overlay.objects.get(c.name, [])) if overlay is not None else [],
        )
        for c in d.clusters
    }
    defs: list[Any] = stacks_module().stack_defs(
        d, objects, endpoints=dict(endpoints or {}), require_secrets=require
    )
    return defs


def merge_objects(base: list[Obj], extra: list[Obj]) -> list[Obj]:
    """`base` with each object of `extra` in place of the one with its kind, namespace and name."""

    def key(o: Obj) -> tuple[str, str, str]:
        meta = o.get("metadata") or {}
        return (o.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))

    replacing = {key(o): o for o in extra}
    merged = [replacing.pop(key(o), o) for o in base]
    return merged + [o for o in extra if key(o) in replacing]


def collect(s: Any) -> list[Resource]:
    """The resources a stack's program registers, under Pulumi's mocks."""
    from llmctl.engine.offline import collect_resources

    return collect_resources(s.program, s.name, workspace.PROJECT)


class StackRunner:
    """Applies releases through the Pulumi CLI. `run` is the last run (partial after a failure:
    what the revision of a failed apply records)."""

    def __init__(self, pulumi_command: Any = None, on_progress: OnProgress | None = None) -> None:
        self.pulumi_command = pulumi_command
        self.on_progress = on_progress
        self.run = StackRun()

    def apply(
        self,
        release: Release,
        last: Revision | None,
        overlay: Overlay | None = None,
        *,
        opened: Mapping[str, Any] | None = None,
    ) -> StackRun:
        """Update every stack of `release` in order (an `overlay`: the cluster stacks only).
        `opened` are stacks the caller already opened (apply's previews), by name."""
        url = release.state_url or state_url(release.deployment)  # "": a format-1 revision
        config = engine_config(release.name, url, self.pulumi_command)
        endpoints = recorded(last, "endpoints")
        defs = stack_defs(release, endpoints, True, overlay)
        if overlay is not None:
            defs = [s for s in defs if s.kind != "dns"]
        self.run = run = StackRun({s.name: collect(s) for s in defs})
        if overlay is not None:
            run.carried = {k: recorded(last, k) for k in ("stacks", "resources")}
        for s in defs:
            if s.kind == "dns":  # with the endpoints the cluster stacks just exported
                s = next(x for x in stack_defs(release, run.endpoints) if x.kind == "dns")
                run.resources[s.name] = collect(s)
            stack = (opened or {}).get(s.name) or workspace.open_stack(s.name, s.program, config)
            out = workspace.up(stack, self.on_progress, program=s.program)
            run.done(s.name, s.cluster, s.kind, out)
        return run
