"""Running the stack programs for an apply, a rollout step or a rollback: the engine's
configuration, the stack definitions with their rendered objects, and what a run has done.

Shared by lifecycle.py (plan, apply, destroy, unlock) and rollouts.py (rollout steps and
rollbacks), which import it; neither imports the other's module back (no import cycle).
"""

from __future__ import annotations

from typing import Any

from llmctl.engine import workspace
from llmctl.engine.backend import State, llmctl_home, passphrase_env
from llmctl.engine.workspace import EngineConfig, OnProgress
from llmctl.ir import Deployment
from llmctl.plan import Resource
from llmctl.releases.revisions import Revision


def update_stacks(
    d: Deployment,
    defs: list[Any],
    stacks: dict[str, Any],
    run: StackRun,
    repo: str,
    tags: dict[str, str],
    on_progress: OnProgress | None,
) -> None:
    """`up` every stack in order; the DNS stack gets the endpoints the clusters just exported."""
    for s in defs:
        if s.kind == "dns":
            s = dns_def(d, repo, tags, run.endpoints)
            run.resources[s.name] = collect(s)
        out = workspace.up(stacks[s.name], on_progress, program=s.program)
        run.done(s.name, s.cluster, s.kind, out)


def engine_config(deployment: Deployment, state: State, command: Any = None) -> EngineConfig:
    """The Pulumi CLI, backend URL, passphrase and work directory for `deployment`'s stacks."""
    env = {**passphrase_env(state.url), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    return EngineConfig(
        backend_url=state.url,
        env=env,
        work_dir=llmctl_home() / "work" / deployment.name,
        command=workspace.pulumi_command(command),
    )


class StackRun:
    """What an apply has done so far: per-stack outputs, endpoints and resource sets."""

    def __init__(self, deployment: Deployment, resources: dict[str, list[Resource]]) -> None:
        self.deployment = deployment
        self.resources = resources
        self.stacks: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, str] = {}

    def done(self, stack: str, cluster: str, kind: str, outputs: dict[str, Any]) -> None:
        self.stacks[stack] = {"cluster": cluster, "kind": kind, "outputs": outputs}
        if cluster and isinstance(outputs.get("gateway_endpoint"), str):
            self.endpoints[cluster] = outputs["gateway_endpoint"]

    def record(self) -> dict[str, Any]:
        """The revision's outputs; resource sets only of the stacks that were applied."""
        return {
            "stacks": self.stacks,
            "endpoints": self.endpoints,
            "resources": {
                name: {r.urn_key: r.inputs for r in self.resources[name]} for name in self.stacks
            },
        }


def stacks_module() -> Any:
    """The stack programs (the repository's stacks/, installed as llmctl.stacks)."""
    import llmctl.stacks  # the repository's stacks/, installed as llmctl.stacks

    return llmctl.stacks


def stack_defs_for(
    d: Deployment, repo: str, tags: dict[str, str], endpoints: Any, require: bool
) -> list[Any]:
    """Every StackDef, with the rendered objects of each cluster."""
    from llmctl.render.cluster import render_cluster_objects

    objects = {c.name: render_cluster_objects(d, c.name, repo, tags) for c in d.clusters}
    defs: list[Any] = stacks_module().stack_defs(
        d, objects, endpoints=dict(endpoints or {}), require_secrets=require
    )
    return defs


def dns_def(d: Deployment, repo: str, tags: dict[str, str], endpoints: dict[str, str]) -> Any:
    """The DNS stack's definition, with the clusters' gateway endpoints."""
    return next(s for s in stack_defs_for(d, repo, tags, endpoints, True) if s.kind == "dns")


def collect(s: Any) -> list[Resource]:
    """The resources a stack's program registers, under Pulumi's mocks."""
    from llmctl.engine.offline import collect_resources

    return collect_resources(s.program, s.name, workspace.PROJECT)


def recorded(last: Revision | None, key: str) -> dict[str, Any]:
    """One part of the last revision's outputs (endpoints, stacks, resources), or {}."""
    value = last.outputs.get(key) if last is not None else None
    return value if isinstance(value, dict) else {}
