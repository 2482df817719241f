"""Multi-node replicas (issue 13): compile decides the group's shape and records it in the IR;
what cannot be placed is a located error with a hint, in validate."""

from __future__ import annotations

from llmctl.compile import compile_file
from tests.spec.test_loader import BASE, errors_of

# A pool of 4-GPU nodes, 4 of them; `gpus: 8` makes each replica two nodes.
MULTI = (
    BASE.replace("nodes: 2", "nodes: 4")
    .replace("    placements:", "    gpus: 8\n    placements:")
    .replace("replicas: 2", "replicas: 1")
)


def _compile(tmp_path, text):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return compile_file(path).deployment


def test_gpus_above_a_node_compile_to_a_group_of_nodes(tmp_path):
    model = _compile(tmp_path, MULTI).models[0]
    assert (model.gpus, model.tensor_parallel, model.nodes_per_replica) == (8, 4, 2)
    group = model.group
    assert group is not None
    assert (group.size, group.tensor_parallel, group.pipeline_parallel) == (2, 4, 2)
    assert group.executor == "mp" and group.lws_api_version == "leaderworkerset.x-k8s.io/v1"
    flags = list(model.engine.flags)
    pairs = {flags[i]: flags[i + 1] for i in range(1, len(flags) - 1) if flags[i].startswith("--")}
    assert pairs["--tensor-parallel-size"] == "4"
    assert pairs["--pipeline-parallel-size"] == "2"
    assert pairs["--nnodes"] == "2"
    assert pairs["--distributed-executor-backend"] == "mp"
    assert pairs["--master-port"] == str(group.master_port)
    # rank and leader address come from the group at start, never from compile
    assert "--node-rank" not in flags and "--master-addr" not in flags


def test_a_single_node_model_has_no_group(tmp_path):
    model = _compile(tmp_path, BASE).models[0]
    assert model.nodes_per_replica == 1 and model.group is None


def test_a_derived_405b_replica_spans_two_h100_nodes(tmp_path):
    text = (
        BASE.replace(
            "hf://meta-llama/Llama-3.1-8B-Instruct", "hf://meta-llama/Llama-3.1-405B-Instruct"
        )
        .replace("L40S, per_node: 4", "H100-80GB, per_node: 8")
        .replace("nodes: 2", "nodes: 4")
        .replace("replicas: 2", "replicas: 1")
    )
    model = _compile(tmp_path, text).models[0]
    assert model.sizing.gpus_derived and model.gpus == 16
    assert model.group is not None and model.group.size == 2


def test_gpus_not_a_multiple_of_a_node_is_located(tmp_path):
    [d] = errors_of(tmp_path, MULTI.replace("gpus: 8", "gpus: 6"))
    assert d.path == "models[0].gpus" and d.line == 14
    assert "not a multiple" in d.message and "c/p" in d.message
    assert d.hint


def test_a_pool_smaller_than_one_group_is_located(tmp_path):
    [d] = errors_of(tmp_path, MULTI.replace("nodes: 4", "nodes: 1"))
    assert d.path == "models[0].placements[0].pool" and d.line == 16
    assert "group of 2 nodes" in d.message and "has 1 node" in d.message
    assert "raise the pool's nodes to 2" in d.hint


def test_heads_that_do_not_divide_are_located(tmp_path):
    text = MULTI.replace(
        "    gpus: 8\n",
        "    gpus: 8\n    architecture: {params_b: 8, layers: 32, heads: 30, kv_heads: 6, head_dim: 128}\n",
    )
    [d] = errors_of(tmp_path, text)
    assert d.path == "models[0].gpus"
    assert "does not divide the 30 attention heads" in d.message


def test_a_vllm_without_native_multi_node_is_located(tmp_path):
    text = MULTI.replace("    gpus: 8\n", "    gpus: 8\n    engine: {vllm_version: 0.11.0}\n")
    [d] = errors_of(tmp_path, text)
    assert d.path == "models[0].engine.vllm_version"
    assert "only with Ray" in d.message and "0.11.2 or later" in d.hint


def test_pools_of_different_node_sizes_are_located(tmp_path):
    text = MULTI.replace(
        "        nodes: 4\n",
        "        nodes: 4\n      - name: q\n        gpu: {model: L40S, per_node: 8}\n        nodes: 2\n",
    ).replace(
        "      - pool: c/p\n        replicas: 1\n",
        "      - pool: c/p\n        replicas: 1\n      - pool: c/q\n        replicas: 1\n",
    )
    diags = errors_of(tmp_path, text)
    assert any(
        d.path == "models[0].gpus" and "different GPUs per node" in d.message for d in diags
    ), [d.message for d in diags]
