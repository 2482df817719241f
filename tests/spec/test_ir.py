"""The IR: deterministic bytes, a lossless JSON round trip, and a refused unknown schema_version."""

from __future__ import annotations

import json

import pytest

from llmctl.compile import compile_file
from llmctl.errors import LlmctlError
from llmctl.ir import SCHEMA_VERSION, Deployment
from tests.conftest import EXAMPLES, example


@pytest.mark.parametrize("name", EXAMPLES)
def test_same_spec_same_bytes_and_round_trip(name):
    first = compile_file(example(name)).deployment
    second = compile_file(example(name)).deployment
    assert first.to_json() == second.to_json()
    assert Deployment.from_json(first.to_json()) == first
    data = json.loads(first.to_json())
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data) == sorted(data), "canonical JSON: sorted keys"


def test_ir_is_frozen():
    d = compile_file(example("quickstart")).deployment
    with pytest.raises(Exception):  # pydantic's ValidationError for a frozen model
        d.name = "other"  # type: ignore[misc]


def test_unknown_schema_version_is_refused():
    data = json.loads(compile_file(example("quickstart")).deployment.to_json())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(LlmctlError, match="schema_version"):
        Deployment.from_json(json.dumps(data))


def test_secret_references_stay_references(monkeypatch):
    monkeypatch.setenv("LLMCTL_API_KEYS", "client=sk-live-0123456789abcdef")
    text = compile_file(example("hybrid")).deployment.to_json()
    assert "LLMCTL_API_KEYS" in text and "sk-live-0123456789abcdef" not in text
