"""The engine side of rollouts: staging an apply whose models change how they serve, and
running one model's rollout through the driver with the engine's StackRunner as its applier."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmctl.errors import LlmctlError
from llmctl.ir import Deployment
from llmctl.release import Release

if TYPE_CHECKING:
    from llmctl.engine.backend import State
    from llmctl.engine.runner import StackRunner
    from llmctl.releases.revisions import Revision
    from llmctl.rollout.plan import ModelChange


def staged_changes(last: Revision | None, release: Release) -> tuple[Release, list[ModelChange]]:
    """`release` with every model whose serving identity changes pinned to what runs now (its
    IR and the image it runs), and those changes."""
    from llmctl.rollout.plan import serving_changes

    changes = serving_changes(last.release if last is not None else None, release)
    staged = release
    for change in changes:
        staged = staged.with_model(change.old_model, change.old.image(change.model))
    analysed = [c for c in changes if c.strategy != "rolling"]
    if analysed and not prometheus_url(release.deployment):
        names = ", ".join(c.model for c in analysed)
        raise LlmctlError(
            f"{names} change how they serve and roll out by analysis, but there is no Prometheus",
            hint="set monitoring.prometheus_url (or LLMCTL_PROMETHEUS_URL, e.g. for a port-forward),"
            " or use `rollout: {strategy: rolling}`",
        )
    return staged, changes


def sequenced(changes: list[ModelChange], current: Release) -> list[ModelChange]:
    """Each change between the release as it stands after the ones before it and the next."""
    from llmctl.rollout.plan import ModelChange

    out = []
    for c in changes:
        new = current.with_model(c.new_model, c.new.image(c.model))
        out.append(ModelChange(c.model, c.old_identity, c.new_identity, c.strategy, current, new))
        current = new
    return out


def prometheus_url(d: Deployment) -> str | None:
    """Where rollouts are analysed: $LLMCTL_PROMETHEUS_URL (a port-forward) or the spec's."""
    return os.environ.get("LLMCTL_PROMETHEUS_URL") or d.prometheus_url


def roll_out(
    state: State,
    change: ModelChange,
    spec_text: str | None,
    runner: StackRunner,
    on_event: Callable[[Any], None] | None,
    **options: Any,
) -> Revision:
    """One model's rollout through the driver; its closing revision (or RolledBack, exit 4).
    `options` go to the driver (e.g. `clock` and `sleep`, which tests pin)."""
    from llmctl.metrics import PrometheusClient
    from llmctl.rollout.driver import run_rollout
    from llmctl.rollout.engine_applier import EngineStepApplier

    url = prometheus_url(change.new.deployment)
    run_rollout(
        state.backend,
        change.new.name,
        change,
        EngineStepApplier(runner, state.store),
        PrometheusClient(url) if url else None,
        on_event=on_event,
        spec_text=spec_text,
        **options,
    )
    latest = state.store.latest("applied")
    assert latest is not None  # the rollout recorded its closing revision
    return latest
