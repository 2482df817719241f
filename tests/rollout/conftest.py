"""Rollout tests: the real Prometheus of tests/metrics (its backfilled canary scenarios, keyed by
the `llmctl_model` label: chat-ok, chat-errors, chat-slow, chat-quiet), the state backends of
tests/releases (a directory, and S3 through moto server), and a recording stand-in for the one
boundary the driver has to the engine, the StepApplier.

Time: the driver's clock is pinned at the newest backfilled sample, where every figure
Prometheus returns is exact, and its sleep only records how long it was asked to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmctl.ir import AnalysisIR, Deployment, RolloutIR
from llmctl.metrics import PrometheusClient
from llmctl.releases.backend import Backend, open_backend
from llmctl.rollout.driver import RolloutDriver, RolloutEvent
from llmctl.rollout.plan import ModelChange, RolloutStep, serving_changes
from tests.metrics.conftest import prometheus  # noqa: F401 - the real Prometheus, session-wide
from tests.releases.conftest import backend, moto_endpoint, s3_bucket, state_url  # noqa: F401
from tests.releases.fixtures import REV_A, REV_B, deployment, model, pool, release_of

NAME = "support-bot"
POOL = "dc1/a100"
INTERVAL = 300
THRESHOLDS = AnalysisIR(max_error_rate=0.01, max_ttft_p95_seconds=1.5, min_requests=50)


class RecordingStepApplier:
    """Stand-in for the engine boundary (EngineStepApplier): records every step it is asked to
    apply instead of running a stack update; `fail_at`/`interrupt_at` (1-based call numbers)
    make that call raise an engine error or a Ctrl-C, as a real stack update can."""

    def __init__(self, interrupt_at: int | None = None, fail_at: int | None = None) -> None:
        self.steps: list[RolloutStep] = []
        self.interrupt_at, self.fail_at = interrupt_at, fail_at

    def apply_step(self, step: RolloutStep) -> None:
        self.steps.append(step)
        if len(self.steps) == self.interrupt_at:
            raise KeyboardInterrupt
        if len(self.steps) == self.fail_at:
            from llmctl.errors import EngineError

            raise EngineError("stack support-bot-dc1: update failed (stand-in)")

    def outputs(self) -> dict[str, Any]:
        return {}  # a stand-in deploys nothing

    def trace(self) -> list[tuple[str, int, str, dict[str, int]]]:
        """(phase, canary weight, stable track's IR, canary replicas per pool) of every step."""
        return [(s.phase, s.canary_weight, s.stable, dict(s.canary_replicas)) for s in self.steps]


@dataclass
class RecordingSleep:
    """The driver's sleep: records the seconds asked for; `on_call[n]` runs at the n-th call
    (1-based), e.g. to send a pause request as another shell would."""

    calls: list[float] = field(default_factory=list)
    on_call: dict[int, Callable[[], None]] = field(default_factory=dict)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        action = self.on_call.get(len(self.calls))
        if action is not None:
            action()

    @property
    def total(self) -> float:
        return sum(self.calls)


def rollout_ir(
    strategy: str = "canary", steps: tuple[int, ...] = (10, 50, 100), min_requests: int = 50
) -> RolloutIR:
    """A rollout block with the analysis tests' thresholds and a 5-minute interval."""
    analysis = THRESHOLDS.model_copy(update={"min_requests": min_requests})
    return RolloutIR(strategy=strategy, steps=steps, interval_seconds=INTERVAL, analysis=analysis)  # type: ignore[arg-type]


def change_for(
    scenario: str,
    strategy: str = "canary",
    steps: tuple[int, ...] = (10, 50, 100),
    min_requests: int = 50,
    replicas: int = 4,
    gpus: int = 1,
    nodes: int = 4,
) -> ModelChange:
    """Deployments before and after a revision bump of the model named after `scenario`."""
    rollout = rollout_ir(strategy, steps, min_requests)

    def build(revision: str) -> Deployment:
        m = model(scenario, revision=revision, replicas=replicas, gpus=gpus)
        return deployment(
            NAME,
            models=(m.model_copy(update={"rollout": rollout}),),
            pools=(pool(nodes=nodes),),
            prometheus_url="http://prometheus.monitoring:9090",
        )

    old, new = build(REV_A), build(REV_B)
    # the new identity runs a new image too, so that tests can tell the tracks' images apart
    new_tags = {m.name: "t1" for m in new.models}
    (change,) = serving_changes(release_of(old), release_of(new, new_tags))
    return change


@pytest.fixture
def file_backend(tmp_path: Path) -> Backend:
    """A state directory under tmp_path."""
    return open_backend(f"file://{tmp_path}/state")


@pytest.fixture
def client(prometheus):  # noqa: F811 - the fixture imported above
    with PrometheusClient(prometheus.url) as c:
        yield c


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def events() -> list[RolloutEvent]:
    return []


@pytest.fixture
def make_driver(prometheus, client, sleep, events) -> Callable[..., RolloutDriver]:  # noqa: F811
    """A driver on `backend` with `applier`, the real Prometheus, and the pinned clock."""

    def make(backend: Backend, applier: Any, **options: Any) -> RolloutDriver:  # noqa: F811
        return RolloutDriver(
            backend,
            NAME,
            applier,
            options.pop("prometheus", client),
            clock=lambda: prometheus.at,
            sleep=sleep,
            on_event=events.append,
            **options,
        )

    return make
