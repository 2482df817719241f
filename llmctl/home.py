"""llmctl's local directory ($LLMCTL_HOME, default ~/.llmctl) and the default state URL under it.

Stdlib only: the fast `--help` path, cost's price cache and the engine all read it from here.
"""

from __future__ import annotations

import os
from pathlib import Path


def llmctl_home() -> Path:
    """$LLMCTL_HOME, default ~/.llmctl: llmctl's local state, caches and passphrase."""
    return Path(os.environ.get("LLMCTL_HOME") or "~/.llmctl").expanduser().absolute()


def default_state_url() -> str:
    """The state URL of a spec without `state:`: file://$LLMCTL_HOME/state."""
    return f"file://{llmctl_home() / 'state'}"
