"""A multi-node model (a LeaderWorkerSet of 2-node groups) through `llmctl apply`'s canary:
the canary is a whole group of its own, the pool's room is counted in whole nodes, a healthy
canary is promoted and a breaching one rolled back (exit 4), judged by a real Prometheus. The
Pulumi CLI is stood in, as in test_apply_rollout.py."""

from __future__ import annotations

import json

import pytest

from llmctl.errors import LlmctlError, RolledBack
from tests.engine.test_apply_rollout import apply, store, ups
from tests.metrics.conftest import prometheus  # noqa: F401 - the real Prometheus, session-wide


def spec(model: str, max_len: int, prometheus_url: str, nodes: int = 4) -> str:
    return f"""\
version: 1
name: support-bot
clusters:
  - name: dc1
    kubernetes: {{context: dc1}}
    pools:
      - name: h100
        gpu: {{model: H100-80GB, per_node: 8}}
        nodes: {nodes}
models:
  - name: {model}
    source: hf://meta-llama/Llama-3.1-405B-Instruct
    revision: 0e9e39f249a16976918f6564b8830bc894c89659
    engine: {{max_model_len: {max_len}}}
    placements: [{{pool: dc1/h100, replicas: 1}}]
    rollout: {{strategy: canary, steps: [50, 100], interval: 5m}}
monitoring: {{prometheus_url: {prometheus_url}}}
"""


def test_a_healthy_multi_node_canary_is_promoted(standin, prometheus):  # noqa: F811
    first, _ = apply(spec("chat-ok", 8192, prometheus.url), standin, prometheus)
    assert json.loads(first.ir)["models"][0]["group"]["size"] == 2
    final, slept = apply(spec("chat-ok", 4096, prometheus.url), standin, prometheus)
    assert final.outcome == "applied"
    assert json.loads(final.ir)["models"][0]["engine"]["max_model_len"] == 4096
    # staged apply + canary 50% + promote + finalize
    assert ups(standin) == 1 + 1 + 3
    assert sum(slept) == 2 * 300
    resources = json.dumps(final.outputs["resources"])
    assert "LeaderWorkerSet" in resources


def test_a_breaching_multi_node_canary_is_rolled_back(standin, prometheus):  # noqa: F811
    apply(spec("chat-errors", 8192, prometheus.url), standin, prometheus)
    new = spec("chat-errors", 4096, prometheus.url)
    with pytest.raises(RolledBack) as caught:
        apply(new, standin, prometheus)
    assert caught.value.exit_code == 4
    revisions = store(new)
    assert revisions.list()[0].outcome == "rolled-back"
    running = revisions.latest("applied")
    assert json.loads(running.ir)["models"][0]["engine"]["max_model_len"] == 8192


def test_a_pool_without_room_for_a_whole_canary_group_is_refused(standin, prometheus):  # noqa: F811
    # 3 nodes: the stable group takes 2, a canary group needs 2 more
    apply(spec("chat-ok", 8192, prometheus.url, nodes=3), standin, prometheus)
    before = ups(standin)
    with pytest.raises(LlmctlError) as caught:
        apply(spec("chat-ok", 4096, prometheus.url, nodes=3), standin, prometheus)
    message = caught.value.message
    assert "no room for the canary" in message and "2 whole nodes each" in message
    assert "the pool has 3" in message
    assert ups(standin) - before <= 1  # at most the staged apply of everything else
