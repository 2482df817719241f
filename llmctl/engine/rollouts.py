"""The engine side of rollouts and rollbacks: staging an apply whose models change how they serve,
one rollout step as one update of the cluster stacks (`apply_objects`), and re-applying a stored
IR (`apply_deployment`). `llmctl.engine.lifecycle` re-exports the two entry points, which the
rollout driver (llmctl.rollout.engine_applier) and `llmctl rollback` look up there."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmctl.engine.backend import last_applied, open_state
from llmctl.errors import LlmctlError
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY
from llmctl.ir import Deployment
from llmctl.render.cluster import default_image_tags

if TYPE_CHECKING:
    from llmctl.engine.backend import State
    from llmctl.engine.workspace import OnProgress
    from llmctl.releases.revisions import Revision


def staged_changes(last: Revision | None, d: Deployment) -> tuple[Deployment, list[Any]]:
    """`d` with every model whose serving identity changes (and rolls out by canary or
    blue-green, or rolling) pinned to what runs now, and those changes."""
    from llmctl.rollout.plan import serving_changes, with_model

    changes = serving_changes(last.load_ir() if last is not None else None, d)
    staged = d
    for change in changes:
        staged = with_model(staged, change.old_model)
    analysed = [c for c in changes if c.strategy != "rolling"]
    if analysed and not prometheus_url(d):
        names = ", ".join(c.model for c in analysed)
        raise LlmctlError(
            f"{names} change how they serve and roll out by analysis, but there is no Prometheus",
            hint="set monitoring.prometheus_url (or LLMCTL_PROMETHEUS_URL, e.g. for a port-forward),"
            " or use `rollout: {strategy: rolling}`",
        )
    return staged, changes


def sequenced(changes: list[Any], current: Deployment) -> list[Any]:
    """Each change between the deployment as it stands after the ones before it and the next."""
    from llmctl.rollout.plan import ModelChange, with_model

    out = []
    for c in changes:
        new = with_model(current, c.new_model)
        out.append(ModelChange(c.model, c.old_identity, c.new_identity, c.strategy, current, new))
        current = new
    return out


def prometheus_url(d: Deployment) -> str | None:
    """Where rollouts are analysed: $LLMCTL_PROMETHEUS_URL (a port-forward) or the spec's."""
    import os

    return os.environ.get("LLMCTL_PROMETHEUS_URL") or d.prometheus_url


def roll_out(
    state: State,
    change: Any,
    spec_text: str,
    image_tags: dict[str, str],
    on_progress: OnProgress | None,
    pulumi_command: Any,
    repo: str,
    on_event: Callable[[Any], None] | None,
    **options: Any,
) -> Revision:
    """One model's rollout through the driver; its closing revision (or RolledBack, exit 4).
    `options` go to the driver (e.g. `clock` and `sleep`, which tests pin)."""
    from llmctl.metrics import PrometheusClient
    from llmctl.rollout.driver import run_rollout
    from llmctl.rollout.engine_applier import EngineStepApplier

    url = prometheus_url(change.new)
    applier = EngineStepApplier(
        image_repository=repo, pulumi_command=pulumi_command, on_progress=on_progress
    )
    run_rollout(
        state.backend,
        change.new.name,
        change,
        applier,
        PrometheusClient(url) if url else None,
        on_event=on_event,
        spec_text=spec_text,
        image_tags=image_tags,
        image_repository=repo,
        **options,
    )
    latest = state.store.latest("applied")
    assert latest is not None  # the rollout recorded its closing revision
    return latest


def apply_objects(
    deployment: Deployment,
    extra_objects_by_cluster: Mapping[str, list[dict[str, Any]]],
    weights: Mapping[str, int],
    *,
    pulumi_command: Any = None,
    on_progress: OnProgress | None = None,
    image_repository: str = DEFAULT_IMAGE_REPOSITORY,
) -> dict[str, Any]:
    """One rollout step as one update of every cluster stack: `deployment`'s objects, with the
    extra ones replacing those of the same kind, namespace and name (or added), and the gateway
    weights split as `weights` ({model: canary percent}). The caller holds the state lock."""
    from llmctl.engine import stack_run as lc
    from llmctl.engine import workspace
    from llmctl.render.cluster import render_cluster_objects

    state = open_state(deployment)
    config = lc.engine_config(deployment, state, pulumi_command)
    tags = default_image_tags(deployment)
    objects = {
        c.name: merge_objects(
            render_cluster_objects(deployment, c.name, image_repository, tags, canary=weights),
            extra_objects_by_cluster.get(c.name, []),
        )
        for c in deployment.clusters
    }
    last = last_applied(state)
    defs = lc.stacks_module().stack_defs(
        deployment, objects, endpoints=lc.recorded(last, "endpoints"), require_secrets=True
    )
    clusters = [s for s in defs if s.kind != "dns"]  # a step never moves a cluster's endpoint
    run = lc.StackRun(deployment, {s.name: lc.collect(s) for s in clusters})
    for s in clusters:
        stack = workspace.open_stack(s.name, s.program, config)
        run.done(s.name, s.cluster, s.kind, workspace.up(stack, on_progress, program=s.program))
    outputs = run.record()
    # The DNS stack is as the last apply left it: carry its record over, so that the revision a
    # rollout closes with is a full baseline for the next plan.
    for key in ("stacks", "resources"):
        for name, value in lc.recorded(last, key).items():
            outputs[key].setdefault(name, value)
    return outputs


def merge_objects(base: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`base` with each object of `extra` in place of the one with its kind, namespace and name."""

    def key(o: dict[str, Any]) -> tuple[str, str, str]:
        meta = o.get("metadata") or {}
        return (o.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))

    replacing = {key(o): o for o in extra}
    merged = [replacing.pop(key(o), o) for o in base]
    return merged + [o for o in extra if key(o) in replacing]


def apply_deployment(
    deployment: Deployment,
    image_tags: Mapping[str, str] | None = None,
    *,
    pulumi_command: Any = None,
    on_progress: OnProgress | None = None,
    image_repository: str = DEFAULT_IMAGE_REPOSITORY,
) -> dict[str, Any]:
    """Apply a stored IR as it is (rollback): every stack updated; the revision's outputs.

    `image_tags` is a revision's {model: tag}, so the images it ran are the images it gets back.
    The caller holds the state lock and records the revision."""
    from llmctl.engine import stack_run as lc
    from llmctl.engine import workspace

    state = open_state(deployment)
    config = lc.engine_config(deployment, state, pulumi_command)
    tags = default_image_tags(deployment)
    for m in deployment.models:
        if image_tags and m.name in image_tags:
            tags[m.engine.vllm_version] = image_tags[m.name]
    last = last_applied(state)
    defs = lc.stack_defs_for(
        deployment, image_repository, tags, lc.recorded(last, "endpoints"), True
    )
    run = lc.StackRun(deployment, {s.name: lc.collect(s) for s in defs})
    stacks = {s.name: workspace.open_stack(s.name, s.program, config) for s in defs}
    lc.update_stacks(deployment, defs, stacks, run, image_repository, tags, on_progress)
    return run.record()
