"""`llmctl apply` of a serving change: the other changes first, then the model's canary, each
step a stack update through the engine (the Pulumi CLI stood in), judged by a real Prometheus."""

from __future__ import annotations

import json

import pytest

from llmctl.engine import lifecycle
from llmctl.errors import LlmctlError, RolledBack
from llmctl.releases.revisions import RevisionStore
from llmctl.spec.loader import parse_source, validate_structure
from tests.metrics.conftest import prometheus  # noqa: F401 - the real Prometheus, session-wide

REV_A = "0e9e39f249a16976918f6564b8830bc894c89659"
REV_B = "5206a32e0bd3067aef1ce90f5528ade7d866253f"


def spec(model: str, revision: str, prometheus_url: str) -> str:
    return f"""\
version: 1
name: support-bot
clusters:
  - name: dc1
    kubernetes: {{context: dc1}}
    pools:
      - name: a100
        gpu: {{model: A100-80GB, per_node: 8}}
        nodes: 2
models:
  - name: {model}
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: {revision}
    placements: [{{pool: dc1/a100, replicas: 4}}]
    rollout: {{strategy: canary, steps: [10, 50, 100], interval: 5m}}
monitoring: {{prometheus_url: {prometheus_url}}}
"""


def compiled(text: str):
    from llmctl.compile import compile_spec

    source = parse_source(text.encode(), "llm.yaml")
    parsed, diags = validate_structure(source)
    assert parsed is not None and not diags
    return compile_spec(parsed, source)


def apply(text, standin, prometheus):  # noqa: F811
    slept: list[float] = []
    revision = lifecycle.apply(
        compiled(text),
        yes=True,
        interactive=False,
        pulumi_command=standin,
        rollout_options={"clock": lambda: prometheus.at, "sleep": slept.append},
    )
    return revision, slept


def ups(standin) -> int:
    return sum(1 for call in standin.calls if call[0] == "up")


def store(text) -> RevisionStore:
    from llmctl.engine.backend import open_state

    return open_state(compiled(text).deployment).store


def test_a_passing_canary_is_promoted_through_stack_updates(standin, prometheus):  # noqa: F811
    first, _ = apply(spec("chat-ok", REV_A, prometheus.url), standin, prometheus)
    assert first.number == 1 and ups(standin) == 1
    new = spec("chat-ok", REV_B, prometheus.url)
    final, slept = apply(new, standin, prometheus)
    revisions = {r.number: r for r in store(new).list()}
    # 2: everything but the serving change (the model still at REV_A); 3: the promoted canary
    staged = revisions[2]
    assert staged.outcome == "applied" and "rollout of chat-ok follows" in staged.message
    assert json.loads(staged.ir)["models"][0]["revision"] == REV_A
    assert final.number == 3 and final.outcome == "applied"
    assert json.loads(final.ir)["models"][0]["revision"] == REV_B
    # staged apply + canary 10% + canary 50% + promote + finalize: one stack update each
    assert ups(standin) == 1 + 1 + 4
    assert sum(slept) == 3 * 300  # analysed after each 5m interval (polled in short sleeps)
    # the closing revision is a full baseline: an offline plan of the same spec changes nothing
    assert final.outputs["resources"]["support-bot-dc1"]
    again = lifecycle.plan(compiled(new), offline=True)
    assert not again.has_changes


def test_a_breaching_canary_is_rolled_back_with_the_figures(standin, prometheus):  # noqa: F811
    apply(spec("chat-errors", REV_A, prometheus.url), standin, prometheus)
    new = spec("chat-errors", REV_B, prometheus.url)
    with pytest.raises(RolledBack) as caught:
        apply(new, standin, prometheus)
    assert caught.value.exit_code == 4
    assert "error rate" in caught.value.message and "> max 1.00%" in caught.value.message
    revisions = store(new)
    tried = revisions.list()[0]
    assert tried.outcome == "rolled-back"
    assert json.loads(tried.ir)["models"][0]["revision"] == REV_B  # what was tried
    running = revisions.latest("applied")
    assert json.loads(running.ir)["models"][0]["revision"] == REV_A  # the stable set stays


def test_a_canary_without_prometheus_is_refused_before_anything_changes(standin):
    text = spec("chat-ok", REV_A, "http://x:9090").replace(
        "monitoring: {prometheus_url: http://x:9090}\n", ""
    )
    lifecycle.apply(compiled(text), yes=True, interactive=False, pulumi_command=standin)
    before = ups(standin)
    with pytest.raises(LlmctlError, match="no Prometheus"):
        lifecycle.apply(
            compiled(text.replace(REV_A, REV_B)),
            yes=True,
            interactive=False,
            pulumi_command=standin,
        )
    assert ups(standin) == before


def test_a_canary_that_changes_the_vllm_version_runs_both_images(standin, prometheus):  # noqa: F811
    from llmctl.image import image_tag, render_image_context

    # llmctl's own (bundled) image: its tag is what a revision records.
    old = spec("chat-ok", REV_A, prometheus.url).replace(
        "    revision:", "    engine: {vllm_version: '0.10.2', image: bundled}\n    revision:"
    )
    apply(old, standin, prometheus)
    new = spec("chat-ok", REV_A, prometheus.url).replace(  # same weights, vLLM 0.10.2 -> 0.11.0
        "    revision:", "    engine: {vllm_version: '0.11.0', image: bundled}\n    revision:"
    )
    final, _ = apply(new, standin, prometheus)
    assert json.loads(final.ir)["models"][0]["engine"]["vllm_version"] == "0.11.0"
    tags = {v: image_tag(render_image_context(v)) for v in ("0.10.2", "0.11.0")}
    assert final.image_tags == {"chat-ok": tags["0.11.0"]}
    # the staged revision kept the model, and its image, at 0.10.2
    staged = store(new).get(final.number - 1)
    assert staged.image_tags == {"chat-ok": tags["0.10.2"]}


def test_apply_during_an_unfinished_rollout_changes_nothing(standin, prometheus):  # noqa: F811
    """Refused before any engine update or revision, with how to resume or abort."""
    from llmctl.engine.backend import open_state
    from llmctl.rollout import record

    first = spec("chat-ok", REV_A, prometheus.url)
    apply(first, standin, prometheus)
    backend = open_state(compiled(first).deployment).backend
    record.save(backend, "support-bot", {"model": "chat-ok", "status": "paused", "phase": "canary",
                                        "step_index": 0, "steps": [10, 50, 100]})  # fmt: skip
    before_ups, before_revs = ups(standin), len(store(first).list())
    with pytest.raises(LlmctlError, match="unfinished rollout") as caught:
        apply(spec("chat-ok", REV_B, prometheus.url), standin, prometheus)
    assert caught.value.exit_code == 1
    assert "rollout resume --model chat-ok" in caught.value.hint
    assert "rollout abort --model chat-ok" in caught.value.hint
    assert ups(standin) == before_ups
    assert not any(c[0] == "preview" for c in standin.calls[-3:])
    assert len(store(first).list()) == before_revs
