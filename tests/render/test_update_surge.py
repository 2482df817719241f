"""A plain rolling update (a rollback, an apply that is no rollout) on a full pool must replace
pods one at a time: a surge pod there never schedules (found by the real scheduler, e2e)."""

from __future__ import annotations

from llmctl.compile import compile_file
from llmctl.render.cluster import render_cluster_objects
from tests.conftest import example


def _strategy(spec, cluster: str) -> dict:
    d = compile_file(spec).deployment
    (dep,) = [o for o in render_cluster_objects(d, cluster) if o["kind"] == "Deployment"]
    return dep["spec"]["strategy"]["rollingUpdate"]


def test_a_full_pool_replaces_one_at_a_time(tmp_path) -> None:
    # quickstart: 2 replicas x 1 GPU on 2 nodes of 1 GPU: no room for a third
    assert compile_file(example("quickstart")).deployment.models[0].placements[0].update_surge == 0
    assert _strategy(example("quickstart"), "lab") == {"maxSurge": 0, "maxUnavailable": 1}


def test_a_pool_with_room_surges(tmp_path) -> None:
    spec = tmp_path / "llm.yaml"
    spec.write_text(example("quickstart").read_text().replace("nodes: 2", "nodes: 3"))
    assert _strategy(spec, "lab") == {"maxSurge": 1, "maxUnavailable": 0}
