"""Shared test set-up: make the checkout importable as `llmctl` (and `llmctl.stacks`/`templates`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# tests/e2e runs against real engines, through `scripts/e2e test` (which sets LLMCTL_E2E=1).
collect_ignore_glob = [] if os.environ.get("LLMCTL_E2E") == "1" else ["e2e/*"]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/llm.yaml"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own LLMCTL_HOME and no stray AWS profile or colour."""
    home = tmp_path_factory.mktemp("llmctl-home")
    monkeypatch.setenv("LLMCTL_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    yield


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `llmctl ARGS` in-process through the real entry point; returns (exit code, out, err)."""
    from llmctl.cli.main import run

    def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["llmctl", *args])
        capsys.readouterr()
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def example(name: str) -> Path:
    return ROOT / "examples" / name / "llm.yaml"


os.environ.setdefault("LLMCTL_TESTING", "1")
