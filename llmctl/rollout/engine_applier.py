"""The real StepApplier: one rollout step as one stack update through the engine.

For a step of model M the update applies:

- the deployment as the new IR says, except that M's stable track runs `step.stable_model`
  (the old IR and image until the promotion): `step.base_release()`;
- the canary track: `render_model_objects(..., track="canary", replicas=n)` for each placement
  of the stable model with n = `step.canary_replicas[pool]` > 0 (none in the other phases);
- when the stable track's pods are being replaced (promote, rolling), its Deployment rendered
  again with `spec.strategy.rollingUpdate` bounded by the free GPUs (`step.max_surge`,
  `step.max_unavailable`); these objects replace the base deployment's objects of the same kind,
  namespace and name;
- the gateway weights: `{M: canary percent}` (render_gateway_objects' `canary` argument), or none
  when the step has no canary.

The update goes through the one engine entry point, `StackRunner.apply(release, last,
overlay)` (llmctl.engine.runner), which the caller passes in: tests pass a recording stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmctl.rollout.plan import RolloutStep

if TYPE_CHECKING:
    from llmctl.engine.runner import Applier
    from llmctl.releases.revisions import RevisionStore

Obj = dict[str, Any]


class EngineStepApplier:
    """Applies rollout steps as stack updates through `runner`; `store` gives the last applied
    revision (its endpoints and DNS record carry over)."""

    def __init__(self, runner: Applier, store: RevisionStore) -> None:
        self.runner = runner
        self.store = store
        self._outputs: dict[str, Any] = {}

    def apply_step(self, step: RolloutStep) -> None:
        """Render the step's objects and run one stack update through the engine."""
        from llmctl.engine.runner import Overlay

        weights = {step.model: step.canary_weight} if step.canary_replicas else {}
        overlay = Overlay(step_objects(step), weights)
        run = self.runner.apply(step.base_release(), self.store.latest("applied"), overlay)
        self._outputs = run.record()

    def outputs(self) -> dict[str, Any]:
        """What the engine reported for the last step (a revision's `outputs`)."""
        return self._outputs


def step_objects(step: RolloutStep) -> dict[str, list[Obj]]:
    """The objects a step adds to (or replaces in) the base release, by cluster."""
    from llmctl.render.cluster import render_model_objects

    base = step.base_release().deployment
    by_cluster: dict[str, list[Obj]] = {}
    for placement in step.stable_model.placements:
        replicas = step.canary_replicas.get(placement.pool, 0)
        if replicas > 0:
            objs = render_model_objects(
                base, step.new, placement, step.new_image, track="canary", replicas=replicas
            )
            by_cluster.setdefault(placement.cluster, []).extend(objs)
        if placement.pool in step.max_surge:
            objs = render_model_objects(base, step.stable_model, placement, step.stable_image)
            for obj in objs:
                if obj["kind"] in ("Deployment", "LeaderWorkerSet"):
                    bound_rolling_update(
                        obj,
                        step.max_surge[placement.pool],
                        step.max_unavailable.get(placement.pool, 0),
                    )
            by_cluster.setdefault(placement.cluster, []).extend(objs)
    return by_cluster


def bound_rolling_update(obj: Obj, surge: int, unavailable: int) -> None:
    """Set a Deployment's (or a LeaderWorkerSet's, in whole groups) rolling-update bounds;
    Kubernetes needs one of the two above zero."""
    if surge == 0 and unavailable == 0:
        unavailable = 1
    if obj["kind"] == "LeaderWorkerSet":
        obj["spec"]["rolloutStrategy"] = {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {
                "maxSurge": surge,
                "maxUnavailable": unavailable,
                "partition": 0,
            },
        }
        return
    obj["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
