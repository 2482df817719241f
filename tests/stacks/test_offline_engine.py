"""llmctl.engine.offline: running programs under Pulumi's mocks, repeatedly, in one process."""

from __future__ import annotations

import asyncio

import pytest
from llmctl.stacks import stack_defs

from llmctl.engine.offline import collect_resources, run_offline
from llmctl.errors import LlmctlError
from llmctl.plan import diff_resources
from tests.stacks.fixtures import deployment, objects_by_cluster


def _small_program() -> None:
    import pulumi
    import pulumi_kubernetes as k8s

    ns = k8s.core.v1.Namespace("ns", metadata={"name": "demo"})
    k8s.core.v1.ConfigMap(
        "cm",
        metadata={"name": "c", "namespace": ns.metadata.apply(lambda m: m.name)},
        data={"ratio": "0.5"},
    )
    k8s.core.v1.Secret("s", metadata={"name": "s"}, string_data=pulumi.Output.secret({"k": "v"}))
    pulumi.export("namespace", ns.metadata.apply(lambda m: m.name))
    pulumi.export("password", pulumi.Output.secret("hunter2"))


def test_resources_in_construction_order_with_secrets_masked() -> None:
    run = run_offline(_small_program, "unit")
    assert [(r.type, r.name) for r in run.resources] == [
        ("kubernetes:core/v1:Namespace", "ns"),
        ("kubernetes:core/v1:ConfigMap", "cm"),
        ("kubernetes:core/v1:Secret", "s"),
    ]
    assert run.resources[1].inputs["metadata"] == {"name": "c", "namespace": "demo"}
    assert run.resources[2].inputs["stringData"] == "[secret]"
    assert run.outputs == {"namespace": "demo", "password": "[secret]"}


def test_repeated_runs_give_the_same_resources() -> None:
    stack = stack_defs(deployment(), objects_by_cluster(), require_secrets=False)[1]
    first = collect_resources(stack.program, stack.name)
    second = collect_resources(stack.program, stack.name)
    assert [(r.type, r.name, r.summary) for r in first] == [
        (r.type, r.name, r.summary) for r in second
    ]
    assert [r.inputs for r in first] == [r.inputs for r in second]
    # an unchanged program diffs to "same" everywhere against its own last result
    current = {r.urn_key: r.inputs for r in first}
    assert {c.op for c in diff_resources(second, current)} == {"same"}


def test_a_failing_program_raises_and_leaves_the_runtime_usable() -> None:
    def broken() -> None:
        _small_program()
        raise LlmctlError("boom", hint="none")

    with pytest.raises(LlmctlError, match="boom"):
        collect_resources(broken, "unit")
    assert len(collect_resources(_small_program, "unit")) == 3


def test_runs_from_inside_a_running_event_loop() -> None:
    async def main() -> int:
        return len(collect_resources(_small_program, "unit"))

    assert asyncio.run(main()) == 3
