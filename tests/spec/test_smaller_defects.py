"""Smaller defects of issue 14, item 10, caught at validate: no error message echoes a value of
any length. (Multi-node replicas, once refused here, are placed now: tests/spec/test_multi_node.py.)"""

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
