"""SPEC rule 4: secrets are never inline. Finds API keys, tokens and passwords written in the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llmctl.spec.source import Path_, format_path

# Key names that hold a secret value when written inline.
_SECRET_KEYS = re.compile(
    r"(api[_-]?keys?|token|password|passwd|secret|credentials?|access[_-]?key)$", re.I
)
# Keys whose value is a *reference* to a secret, which is what we want users to write.
_REFERENCE_KEYS = {"secret_env", "hf_token_secret"}
# Values that look like real credentials wherever they appear.
_SECRET_VALUES = [
    (re.compile(r"^hf_[A-Za-z0-9]{30,}$"), "a Hugging Face token"),
    (re.compile(r"^sk-[A-Za-z0-9_-]{20,}$"), "an API key"),
    (re.compile(r"^(AKIA|ASIA)[0-9A-Z]{16}$"), "an AWS access key"),
    (re.compile(r"^gh[pousr]_[A-Za-z0-9]{30,}$"), "a GitHub token"),
    (re.compile(r"^eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."), "a JWT"),
]

HINT = (
    "never write secrets in llm.yaml: reference them, e.g. `api_keys: {secret_env: LLMCTL_API_KEYS}` "
    "(read at apply time) or `hf_token_secret: <Kubernetes Secret name>`"
)


def find_inline_secrets(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str, str]]:
    """Yield (path, message, hint) for every inline secret in the raw spec data."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if (
                isinstance(key, str)
                and key not in _REFERENCE_KEYS
                and _SECRET_KEYS.search(key)
                and isinstance(value, (str, int))
                and not isinstance(value, bool)
                and str(value)
            ):
                yield child, f"{format_path(child)} holds a secret inline", HINT
                continue
            yield from find_inline_secrets(value, child)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from find_inline_secrets(item, (*path, i))
    elif isinstance(data, str):
        for pattern, what in _SECRET_VALUES:
            if pattern.search(data):
                yield path, f"{format_path(path)} looks like {what}, written inline", HINT
                return


def is_secret_line(text: str) -> bool:
    """Whether a line of the file carries a secret value (used to mask excerpts)."""
    head, sep, value = text.partition(":")
    value = value.strip().strip("'\"")
    if (
        sep
        and _SECRET_KEYS.search(head.strip().lstrip("- "))
        and value
        and not value.startswith("{")
    ):
        return True
    return any(p.search(value) or p.search(text.strip().lstrip("- ")) for p, _ in _SECRET_VALUES)
