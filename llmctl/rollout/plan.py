"""What a rollout changes, and the serving state it asks for at each step.

`serving_changes` finds the models whose serving identity (`ModelIR.identity()`: source,
revision, engine settings, image, GPUs) differs between the deployed IR and the new one; those go
through their `rollout.strategy`. A new model, a removed model and any other change (replicas,
routes, pools) is a plain apply.

A `RolloutStep` is the desired serving state of one model, which the step applier (driver.py)
turns into one stack update. Replica counts, per placement (pool) of the model:

- canary step at w% (w < 100): the stable track keeps all R replicas, so a rollback is instant;
  the canary runs max(1, ceil(R x w / 100)) replicas, and gets w% of the model's traffic. At the
  largest step this is `PlacementIR.rollout_surge` (`llmctl.room`), the room `validate` checks for.
- the 100% step is the promotion: the stable track takes the new identity as a rolling update
  while the canary keeps its replicas and its share, so the pool never holds more than R plus the
  canary; its surge is bounded by the GPUs left free (`llmctl.room.more_fit`), else one replica at a time
  (maxUnavailable 1) while the canary absorbs the load. Then (`finalize`) the canary goes and the
  stable track takes all the traffic.
- blue-green: a full new set (R replicas, canary track) at 0%, then one switch to 100%; the old
  set stays, idle and warm, until the promotion (which re-creates the stable set at the new
  identity while the new set serves) or an abort (switch back).
- rolling: one stack update of the stable track to the new identity, surge bounded by free GPUs.

Pool room is counted the way `validate` counts it: every replica on the pool at its largest
(max_replicas), first-fit onto nodes (`llmctl.sizing.nodes_needed`). There is no partition
fallback: when the canary does not fit, the rollout refuses to start and says by how much the
pool is short; `strategy: rolling` is the way to roll out on a full pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from llmctl import room
from llmctl.errors import LlmctlError
from llmctl.ir import Deployment, ModelIR
from llmctl.release import Release
from llmctl.sizing import nodes_needed

Strategy = Literal["canary", "blue-green", "rolling"]
Phase = Literal[
    "canary",  # one canary step: canary at `steps[i]` percent
    "blue-green-up",  # the full new set, no traffic yet
    "blue-green-switch",  # all traffic on the new set; analysed
    "blue-green-hold",  # the old set kept warm until promote or timeout
    "rolling",  # a plain rolling update to the new identity
    "promote",  # the stable track takes the new identity; the canary keeps serving
    "finalize",  # the canary removed, all traffic on the (new) stable track
    "rollback",  # after a failed analysis: all traffic back on the old identity
    "abort",  # the same, on request
]
Track = Literal["old", "new"]


@dataclass(frozen=True)
class ModelChange:
    """One model whose serving identity changes, with both releases it goes between."""

    model: str
    old_identity: str
    new_identity: str
    strategy: Strategy
    old: Release = field(repr=False, compare=False)
    new: Release = field(repr=False, compare=False)

    @property
    def old_model(self) -> ModelIR:
        """The model as deployed now."""
        return model_of(self.old.deployment, self.model)

    @property
    def new_model(self) -> ModelIR:
        """The model as the new spec wants it."""
        return model_of(self.new.deployment, self.model)


def model_of(deployment: Deployment, name: str) -> ModelIR:
    """The model called `name` in `deployment`."""
    for model in deployment.models:
        if model.name == name:
            return model
    raise LlmctlError(f"deployment {deployment.name} has no model {name}")


def changed_models(old: Deployment | None, new: Deployment) -> list[tuple[ModelIR, ModelIR]]:
    """(as deployed, as wanted) of each model of `new` whose serving identity differs from
    `old`'s, in spec order (none at first)."""
    if old is None:
        return []
    before = {m.name: m for m in old.models}
    return [
        (before[m.name], m)
        for m in new.models
        if m.name in before and before[m.name].identity() != m.identity()
    ]


def serving_changes(old: Release | None, new: Release) -> list[ModelChange]:
    """The ModelChange of each model whose identity differs between the two releases."""
    if old is None:
        return []
    return [
        ModelChange(m.name, was.identity(), m.identity(), m.rollout.strategy, old, new)
        for was, m in changed_models(old.deployment, new.deployment)
    ]


def with_model(deployment: Deployment, model: ModelIR) -> Deployment:
    """`deployment` with its model of the same name replaced by `model`."""
    models = tuple(model if m.name == model.name else m for m in deployment.models)
    return deployment.model_copy(update={"models": models})


@dataclass(frozen=True)
class RolloutStep:
    """The desired serving state of one model: what one stack update must make true.

    `stable` says which IR the stable track runs ("old" until the promotion). The canary track
    always runs the new IR, with `canary_replicas` per pool key (empty: no canary objects) and
    `canary_weight` percent of the model's traffic. `max_surge`/`max_unavailable` (per pool key)
    override the stable Deployment's rolling-update bounds when its pods are being replaced.
    """

    phase: Phase
    model: str
    release: Release = field(repr=False)  # the new release
    old: ModelIR = field(repr=False)
    new: ModelIR = field(repr=False)
    old_image: str  # what the old identity runs
    new_image: str
    stable: Track
    canary_weight: int
    canary_replicas: dict[str, int] = field(default_factory=dict)
    max_surge: dict[str, int] = field(default_factory=dict)
    max_unavailable: dict[str, int] = field(default_factory=dict)
    step_index: int | None = None

    @property
    def stable_model(self) -> ModelIR:
        """The IR the stable track runs in this step."""
        return self.old if self.stable == "old" else self.new

    @property
    def weights(self) -> dict[str, int]:
        """Percent of the model's traffic per track."""
        return {"stable": 100 - self.canary_weight, "canary": self.canary_weight}

    @property
    def stable_image(self) -> str:
        """The image the stable track runs in this step."""
        return self.old_image if self.stable == "old" else self.new_image

    def base_release(self) -> Release:
        """The new release, with this model's stable track at `stable_model` and its image."""
        return self.release.with_model(self.stable_model, self.stable_image)


def canary_set(stable: ModelIR, weight: int) -> dict[str, int]:
    """Canary replicas per pool at `weight` percent, on the pools that take traffic."""
    return {
        p.pool: room.canary_replicas(p.max_replicas, weight)
        for p in stable.placements
        if room.serving(p)
    }


def full_set(stable: ModelIR) -> dict[str, int]:
    """A blue-green new set: as many replicas as the stable track on every active pool."""
    return {p.pool: p.max_replicas for p in stable.placements if room.serving(p)}


def peak_canary(change: ModelChange) -> dict[str, int]:
    """The most canary replicas per pool the rollout runs at once (`llmctl.room`'s rule, on the
    stable placements and the new rollout)."""
    rollout = change.new_model.rollout
    peak = {p.pool: room.rollout_surge(rollout, p) for p in change.old_model.placements}
    return {pool: n for pool, n in peak.items() if n}


def check_placements(change: ModelChange) -> None:
    """Refuse a rollout whose stable track would sit on a pool the new deployment no longer has."""
    pools = {p.key for c in change.new.deployment.clusters for p in c.pools}
    gone = sorted({p.pool for p in change.old_model.placements} - pools)
    if gone:
        raise LlmctlError(
            f"{change.model} changes its serving identity and leaves pool {', '.join(gone)} in "
            "the same apply; the stable version would have nowhere to run during the rollout",
            hint="apply the placement change and the model change separately",
        )


def check_room(change: ModelChange, extra: dict[str, int]) -> None:
    """Raise, with the figures, when a pool cannot hold `extra` canary replicas of the new model."""
    base = with_model(change.new.deployment, change.old_model)
    gpus = change.new_model.gpus
    for key, count in sorted(extra.items()):
        pool = base.pool(key)
        used = room.pool_load(base.models, key)
        need = nodes_needed([*used, (gpus, count)], pool.gpus_per_node)
        used_gpus = sum(g * n for g, n in used)
        if need <= pool.max_nodes:
            continue
        limit = "nodes" if pool.provider == "kubernetes" else "max_nodes"
        raise LlmctlError(
            f"pool {key} has no room for the canary of {change.model}: {count} canary "
            f"replica{'s' if count != 1 else ''} x {gpus} GPU"
            + (
                f" ({change.new_model.nodes_per_replica} whole nodes each)"
                if change.new_model.nodes_per_replica > 1
                else ""
            )
            + f" on top of the {used_gpus} GPUs "
            f"placed there need {need} nodes of {pool.gpus_per_node} GPUs; the pool has "
            f"{pool.max_nodes} ({pool.max_gpus - used_gpus} GPUs free)",
            hint=f"raise the pool's {limit} to {need}, or use `rollout.strategy: rolling` "
            "(replaces replicas in place, surge bounded by the free GPUs)",
        )


def _replacing(
    change: ModelChange, canary: dict[str, int], canary_weight: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Rolling-update bounds for the stable track taking the new identity, per pool."""
    base = with_model(change.new.deployment, change.old_model)
    new = change.new_model
    surge: dict[str, int] = {}
    unavailable: dict[str, int] = {}
    for p in new.placements:
        replicas = max(p.max_replicas, 1)
        also = [(new.gpus, canary.get(p.pool, 0))]
        used = room.pool_load(base.models, p.pool) + also
        surge[p.pool] = room.more_fit(base.pool(p.pool), used, new.gpus, replicas)
        if canary_weight >= 100:
            unavailable[p.pool] = replicas  # the new set serves everything: replace at once
        else:
            unavailable[p.pool] = 0 if surge[p.pool] else 1
    return surge, unavailable


def build_step(
    change: ModelChange,
    phase_name: str,
    step_index: int | None = None,
    canary_weight: int = 0,
    canary: dict[str, int] | None = None,
) -> RolloutStep:
    """The serving state of a phase; for "promote", `canary_weight`/`canary` are those it keeps."""
    if phase_name not in get_args(Phase):
        raise ValueError(f"unknown rollout phase {phase_name!r}")
    phase = cast(Phase, phase_name)
    old, new = change.old_model, change.new_model
    common: dict[str, Any] = {
        "model": change.model,
        "release": change.new,
        "old": old,
        "new": new,
        "old_image": change.old.image(change.model),
        "new_image": change.new.image(change.model),
    }
    if phase == "canary":
        assert step_index is not None
        weight = new.rollout.steps[step_index]
        return RolloutStep(
            phase,
            stable="old",
            canary_weight=weight,
            canary_replicas=canary_set(old, weight),
            step_index=step_index,
            **common,
        )
    if phase in ("blue-green-up", "blue-green-switch", "blue-green-hold"):
        weight = 0 if phase == "blue-green-up" else 100
        return RolloutStep(
            phase, stable="old", canary_weight=weight, canary_replicas=full_set(old), **common
        )
    if phase == "promote":
        kept = dict(canary or {})
        surge, unavailable = _replacing(change, kept, canary_weight)
        return RolloutStep(
            phase,
            stable="new",
            canary_weight=canary_weight if kept else 0,
            canary_replicas=kept,
            max_surge=surge,
            max_unavailable=unavailable,
            step_index=step_index,
            **common,
        )
    if phase == "rolling":
        surge, unavailable = _replacing(change, {}, 0)
        return RolloutStep(
            phase,
            stable="new",
            canary_weight=0,
            max_surge=surge,
            max_unavailable=unavailable,
            **common,
        )
    if phase == "finalize":
        return RolloutStep(phase, stable="new", canary_weight=0, **common)
    return RolloutStep(phase, stable="old", canary_weight=0, **common)  # rollback | abort
