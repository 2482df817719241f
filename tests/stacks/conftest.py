"""Make `stacks/` importable as `llmctl.stacks` (what pyproject's package-dir does once installed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import llmctl

ROOT = Path(__file__).resolve().parents[2]

if "llmctl.stacks" not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        "llmctl.stacks",
        ROOT / "stacks" / "__init__.py",
        submodule_search_locations=[str(ROOT / "stacks")],
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["llmctl.stacks"] = module
    spec.loader.exec_module(module)
    llmctl.stacks = module  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _state_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets passphrase apply always has (the serving pods' key is derived from it)."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "stack-tests-passphrase")
