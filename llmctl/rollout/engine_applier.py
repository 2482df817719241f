"""The real StepApplier: one rollout step as one stack update through the engine.

For a step of model M the update applies:

- the deployment as the new IR says, except that M's stable track runs `step.stable_model`
  (the old IR until the promotion): `step.base_deployment()`;
- the canary track: `render_model_objects(..., track="canary", replicas=n)` for each placement
  of the stable model with n = `step.canary_replicas[pool]` > 0 (none in the other phases);
- when the stable track's pods are being replaced (promote, rolling), its Deployment rendered
  again with `spec.strategy.rollingUpdate` bounded by the free GPUs (`step.max_surge`,
  `step.max_unavailable`); these objects replace the base deployment's objects of the same kind,
  namespace and name;
- the gateway weights: `{M: canary percent}` (render_gateway_objects' `canary` argument), or none
  when the step has no canary.

The engine entry point is `llmctl.engine.lifecycle.apply_objects(deployment,
extra_objects_by_cluster, weights)`. It is looked up when a step runs, so that this module
imports without the engine (and tests can put a stand-in module there).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from llmctl.errors import EngineMissing
from llmctl.rollout.plan import RolloutStep

ENGINE_MODULE = "llmctl.engine.lifecycle"
ENGINE_FUNCTION = "apply_objects"
Obj = dict[str, Any]


def engine_function(name: str) -> Any:
    """`llmctl.engine.lifecycle.<name>`, or EngineMissing saying what is not there."""
    try:
        module = importlib.import_module(ENGINE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != ENGINE_MODULE:
            raise
        module = None
    function = getattr(module, name, None)
    if function is None:
        raise EngineMissing(
            f"this llmctl has no engine entry point {ENGINE_MODULE}.{name}; rollout steps and "
            "rollbacks cannot be applied",
            hint="the stack engine is not built into this version yet; apply the rendered "
            "objects (`llmctl render`) with your own tooling meanwhile",
        )
    return function


class EngineStepApplier:
    """Applies rollout steps as stack updates; `image_tags` as `llmctl render` takes them."""

    def __init__(
        self,
        image_repository: str | None = None,
        image_tags: Mapping[str, str] | None = None,
        **engine_options: Any,
    ) -> None:
        self.image_repository = image_repository
        self.image_tags = dict(image_tags) if image_tags is not None else None
        self.engine_options = engine_options
        self._outputs: dict[str, Any] = {}

    def apply_step(self, step: RolloutStep) -> None:
        """Render the step's objects and run one stack update through the engine."""
        apply_objects = engine_function(ENGINE_FUNCTION)
        base = step.base_deployment()
        extra = step_objects(step, self._image)
        weights = {step.model: step.canary_weight} if step.canary_replicas else {}
        if self.image_repository is not None:  # the stable set keeps this repository too
            options = {"image_repository": self.image_repository, **self.engine_options}
        else:
            options = dict(self.engine_options)
        result = apply_objects(base, extra, weights, **options)
        self._outputs = dict(result) if isinstance(result, Mapping) else {}

    def outputs(self) -> dict[str, Any]:
        """What the engine reported for the last step (a revision's `outputs`)."""
        return self._outputs

    def _image(self, step: RolloutStep, track: str) -> str | None:
        if self.image_repository is None and self.image_tags is None:
            return None  # the renderer's default repository and tags
        from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY
        from llmctl.render.cluster import default_image_tags, image_ref

        model = step.new if track == "canary" else step.stable_model
        tags = self.image_tags or default_image_tags(step.deployment)
        return image_ref(model, self.image_repository or DEFAULT_IMAGE_REPOSITORY, tags)


def step_objects(step: RolloutStep, image: Any = None) -> dict[str, list[Obj]]:
    """The objects a step adds to (or replaces in) the base deployment, by cluster."""
    from llmctl.render.cluster import render_model_objects

    def image_for(track: str) -> str | None:
        return image(step, track) if image is not None else None

    base = step.base_deployment()
    by_cluster: dict[str, list[Obj]] = {}
    for placement in step.stable_model.placements:
        replicas = step.canary_replicas.get(placement.pool, 0)
        if replicas > 0:
            objs = render_model_objects(
                base,
                step.new,
                placement,
                track="canary",
                replicas=replicas,
                image=image_for("canary"),
            )
            by_cluster.setdefault(placement.cluster, []).extend(objs)
        if placement.pool in step.max_surge:
            objs = render_model_objects(
                base, step.stable_model, placement, track="stable", image=image_for("stable")
            )
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
