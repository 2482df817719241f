"""Smaller defects of issue 14, item 10, caught at validate: a multi-node replica (which render
cannot produce) is a located error, and no error message echoes a value of any length."""

from __future__ import annotations

import pytest

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid
from tests.spec.test_loader import BASE


def _errors(tmp_path, text):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    with pytest.raises(SpecInvalid) as info:
        compile_file(path)
    return info.value.diagnostics


def test_a_multi_node_replica_is_refused_at_validate_located(tmp_path):
    text = BASE.replace("nodes: 2", "nodes: 4").replace(
        "    placements:", "    gpus: 8\n    placements:"
    )
    [d] = _errors(tmp_path, text)
    assert d.path == "models[0].gpus" and d.line == 14
    assert "across 2 nodes" in d.message and "not supported" in d.message


def test_a_derived_multi_node_replica_is_refused_too(tmp_path):
    big = BASE.replace(
        "hf://meta-llama/Llama-3.1-8B-Instruct", "hf://meta-llama/Llama-3.1-405B-Instruct"
    )
    text = big.replace("nodes: 2", "nodes: 64").replace("per_node: 4", "per_node: 8")
    diags = _errors(tmp_path, text.replace("L40S", "H100-80GB"))
    assert any("not supported" in d.message or "does not fit" in d.message for d in diags)


@pytest.mark.parametrize(
    "old, new",
    [
        ("model: L40S", "model: L40S" + "X" * 100_000),
        ("replicas: 2", "replicas: '" + "y" * 100_000 + "'"),
        ("pool: c/p", "pool: c/" + "z" * 100_000),
    ],
)
def test_no_message_echoes_a_value_of_any_length(tmp_path, old, new):
    diags = _errors(tmp_path, BASE.replace(old, new))
    assert all(len(d.message) <= 400 and len(d.hint) <= 400 for d in diags), [
        len(d.message) for d in diags
    ]
