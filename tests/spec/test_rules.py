"""The semantic rules of SPEC.md: references, catalog, GPU fit, GPU counts, capacity, warnings."""

from __future__ import annotations

import pytest

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid
from tests.spec.test_loader import BASE


def compile_text(tmp_path, text):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return compile_file(path)


def errors(tmp_path, text):
    with pytest.raises(SpecInvalid) as info:
        compile_text(tmp_path, text)
    return info.value.diagnostics


def test_gpu_fit_error_shows_the_numbers_and_a_fix(tmp_path):
    text = BASE.replace("Llama-3.1-8B-Instruct", "Llama-3.1-70B-Instruct").replace(
        "    placements:", "    gpus: 1\n    placements:"
    )
    [d] = errors(tmp_path, text)
    assert "does not fit on c/p" in d.message
    from llmctl import catalog

    params = catalog.find_model("meta-llama/Llama-3.1-70B-Instruct").params_b
    weights = params * 1e9 * 2 / 1024**3  # bf16: 2 bytes per parameter, all on one GPU
    assert f"weights {weights:.1f} GiB / 1" in d.message
    assert "L40S offers 43.2 GiB" in d.message  # 0.90 x 48 GiB
    assert d.hint.startswith("try gpus: 4")


def test_gpus_derived_is_the_smallest_that_fits_and_divides_heads(tmp_path):
    text = BASE.replace("Llama-3.1-8B-Instruct", "Llama-3.1-70B-Instruct").replace(
        "nodes: 2", "nodes: 4"
    )
    model = compile_text(tmp_path, text).deployment.models[0]
    assert model.gpus == 4 and model.sizing.gpus_derived
    assert model.sizing.needed_per_gpu_gib <= model.sizing.usable_per_gpu_gib


def test_gpus_must_divide_heads(tmp_path):
    [d] = errors(tmp_path, BASE.replace("    placements:", "    gpus: 3\n    placements:"))
    assert "does not divide the 32 attention heads" in d.message


def test_gpus_more_than_a_node_must_be_a_multiple(tmp_path):
    [d] = errors(tmp_path, BASE.replace("    placements:", "    gpus: 6\n    placements:"))
    assert "not a multiple" in d.message or "does not divide" in d.message


def test_capacity_counts_nodes(tmp_path):
    [d] = errors(tmp_path, BASE.replace("replicas: 2", "replicas: 9"))
    assert (
        "pool c/p is too small" in d.message
        and "need 3 nodes" in d.message
        and "has 2" in d.message
    )


def test_dangling_pool_reference_names_candidates(tmp_path):
    [d] = errors(tmp_path, BASE.replace("pool: c/p", "pool: c/x"))
    assert "'c/x' does not exist" in d.message and "c/p" in d.hint


def test_unknown_instance_type_and_region_get_candidates(tmp_path):
    text = BASE.replace(
        "    kubernetes: {context: x}\n    pools:\n      - name: p\n        gpu: {model: L40S, per_node: 4}\n        nodes: 2\n",
        "    aws: {region: us-west-3}\n    pools:\n      - name: p\n        instance_type: g6e.xlarg\n        max_nodes: 2\n",
    )
    diags = errors(tmp_path, text)
    by = {d.path: d for d in diags}
    assert "us-west-2" in by["clusters[0].aws.region"].hint
    assert "g6e.xlarge" in by["clusters[0].pools[0].instance_type"].hint


def test_max_model_len_beyond_context(tmp_path):
    [d] = errors(
        tmp_path,
        BASE.replace("    placements:", "    engine: {max_model_len: 200000}\n    placements:"),
    )
    assert "exceeds the model's context of 131072" in d.message


def test_unknown_model_needs_architecture(tmp_path):
    [d] = errors(tmp_path, BASE.replace("meta-llama/Llama-3.1-8B-Instruct", "acme/secret-sauce-7b"))
    assert "needs `architecture`" in d.message


def test_extra_args_may_not_override_llmctl_flags(tmp_path):
    text = BASE.replace(
        "    placements:", "    engine: {extra_args: ['--max-model-len=4096']}\n    placements:"
    )
    [d] = errors(tmp_path, text)
    assert "engine.max_model_len" in d.message and d.path == "models[0].engine.extra_args"


def test_unsupported_vllm_version(tmp_path):
    [d] = errors(
        tmp_path,
        BASE.replace("    placements:", "    engine: {vllm_version: '0.1.0'}\n    placements:"),
    )
    assert "not supported" in d.message and "0.11.0" in d.hint


def test_warnings_unpinned_single_replica(tmp_path):
    text = BASE.replace("    revision: 0e9e39f249a16976918f6564b8830bc894c89659\n", "").replace(
        "replicas: 2", "replicas: 1"
    )
    warnings = compile_text(tmp_path, text).warnings
    messages = [w.message for w in warnings]
    assert any("not pinned" in m for m in messages)
    assert any("single replica and no failover" in m for m in messages)


def test_route_references_resolve(tmp_path):
    text = (
        BASE
        + "gateway:\n  routes:\n    - name: r\n      backends: [{model: m}]\n      fallback: [nope]\n"
    )
    [d] = errors(tmp_path, text)
    assert "fallback 'nope' is not a model" in d.message and d.line == 22


def test_duplicate_names(tmp_path):
    text = BASE.replace(
        "      - name: p\n",
        "      - name: p\n        gpu: {model: L4, per_node: 1}\n        nodes: 1\n      - name: p\n",
        1,
    )
    diags = errors(tmp_path, text)
    assert any("pool name 'p' is used twice" in d.message for d in diags)


def test_route_names_become_served_aliases_so_vllm_answers_to_them(tmp_path):
    text = BASE + "gateway:\n  routes:\n    - name: chat\n      backends: [{model: m}]\n"
    model = compile_text(tmp_path, text).deployment.models[0]
    assert model.served_aliases == ("chat",)
    flags = list(model.engine.flags)
    i = flags.index("--served-model-name")
    assert flags[i + 1 : i + 3] == ["m", "chat"]


def test_placements_from_zero_warnings(tmp_path):
    text = BASE.replace(
        "      - pool: c/p\n        replicas: 2\n",
        "      - pool: c/p\n        replicas: 2\n      - pool: c/q\n        replicas: {min: 0, max: 1}\n"
        "        traffic: failover\n",
    ).replace("        nodes: 2\n", "        nodes: 2\n      - name: q\n        gpu: {model: L4, per_node: 1}\n        nodes: 1\n", 1)
    messages = [w.message for w in compile_text(tmp_path, text).warnings]
    assert "failover placement c/q of 'm' starts no replica by itself" in messages


def test_an_instance_type_far_from_any_lists_the_catalog_families(tmp_path):
    text = BASE.replace(
        "    kubernetes: {context: x}\n    pools:\n      - name: p\n        gpu: {model: L40S, per_node: 4}\n        nodes: 2\n",
        "    aws: {region: us-east-1}\n    pools:\n      - name: p\n        instance_type: zz9.huge\n        max_nodes: 2\n",
    )
    by = {d.path: d for d in errors(tmp_path, text)}
    hint = by["clusters[0].pools[0].instance_type"].hint
    assert hint.startswith("the catalog has sizes of: ") and "g6e" in hint and "p5" in hint
