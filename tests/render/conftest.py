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
