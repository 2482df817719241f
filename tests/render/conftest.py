"""Fixtures for the renderer tests (helpers live in render_helpers.py)."""

from __future__ import annotations

import pytest
from render_helpers import API_KEYS_ENV, API_KEYS_VALUE, SPECS


@pytest.fixture
def api_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The spec's API keys variable set, as at apply time; returns its value."""
    monkeypatch.setenv(API_KEYS_ENV, API_KEYS_VALUE)
    return API_KEYS_VALUE


@pytest.fixture(params=sorted(SPECS))
def spec_name(request: pytest.FixtureRequest) -> str:
    """Each spec the renderer is tested against."""
    return str(request.param)


@pytest.fixture(autouse=True)
def launcher_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    """The upstream image's ConfigMap carries the launcher's source: the goldens hold a stub
    per file, so they do not change with every launcher edit (as the fixed image tags do).
    tests/render/test_render_launcher.py checks the real files reach the ConfigMap."""
    from llmctl.render import kubernetes, serving_image

    stub = {name: f"# llmctl/serving/{name}\n" for name in serving_image.LAUNCHER_FILES}
    monkeypatch.setattr(kubernetes, "launcher_files", lambda: dict(stub))
