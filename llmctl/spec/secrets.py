"""SPEC rule 4: secrets are never inline. Finds API keys, tokens, passwords and credentials in
URLs written in the file, and masks them wherever the file's text is shown.

Three layers, so that no excerpt form leaks one (a flow mapping, a trailing comment, a quoted
key, a syntax error before anything parsed):
- `find_inline_secrets`: the values at secret-named keys and the values that look like a
  credential, by path (each an error; a spec with one never compiles, so it is never stored);
- `find_secrets_in_text`: credential-shaped text anywhere in the file, comments included;
- `mask_secrets` (one line) and `masked_text` (the whole file, by the spans of what was found).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llmctl.spec.source import Path_, SpecSource, format_path

# Key names that hold a secret value when written inline.
_SECRET_KEYS = re.compile(
    r"(api[_-]?keys?|token|password|passwd|secret|credentials?|access[_-]?key)$", re.I
)
# Keys whose value is a *reference* to a secret, which is what we want users to write.
_REFERENCE_KEYS = {"secret_env", "hf_token_secret"}
# Text that looks like a real credential wherever it appears. The look-behind keeps a name that
# merely contains such a run (risk-..., /sk-...) from matching.
_START = r"(?<![A-Za-z0-9/_.-])"
_SECRET_VALUES = [
    (re.compile(_START + r"hf_[A-Za-z0-9]{30,}"), "a Hugging Face token"),
    (re.compile(_START + r"sk-[A-Za-z0-9_-]{20,}"), "an API key"),
    (re.compile(_START + r"(AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"), "an AWS access key"),
    (re.compile(_START + r"gh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(_START + r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"), "a JWT"),
    # scheme://user:password@host: the password part
    (re.compile(r"(?<=://)[^\s/@:'\"]+:[^\s/@'\"]+(?=@)"), "a URL with a password"),
]
# vLLM flags that take a secret, passed through `engine.extra_args`.
_SECRET_FLAGS = re.compile(r"^--(api-key|hf-token|token)(=|$)")

HINT = (
    "never write secrets in llm.yaml: reference them, e.g. `api_keys: {secret_env: LLMCTL_API_KEYS}` "
    "(read at apply time) or `hf_token_secret: <Kubernetes Secret name>`"
)
URL_HINT = (
    "remove the user:password from the URL; give the credentials to the process that needs "
    "them (e.g. a Prometheus behind an authenticating proxy or a port-forward)"
)


def _looks_secret(text: str) -> str | None:
    """What `text` contains that looks like a credential, or None."""
    for pattern, what in _SECRET_VALUES:
        if pattern.search(text):
            return what
    return None


def shown_path(path: Path_) -> str:
    """`format_path`, with any part that itself looks like a credential masked."""
    return format_path(tuple("***" if isinstance(p, str) and _looks_secret(p) else p for p in path))


def find_inline_secrets(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str, str]]:
    """Yield (path, message, hint) for every inline secret in the raw spec data."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if isinstance(key, str) and _looks_secret(key):
                yield (
                    child,
                    f"a key in {shown_path(path) or 'the top level'} looks like a credential",
                    HINT,
                )
            if isinstance(key, str) and key not in _REFERENCE_KEYS and _SECRET_KEYS.search(key):
                if _is_scalar(value) and str(value):
                    yield child, f"{shown_path(child)} holds a secret inline", HINT
                    continue
                if isinstance(value, list) and any(_is_scalar(v) for v in value):
                    for i, item in enumerate(value):
                        if _is_scalar(item):
                            yield (*child, i), f"{shown_path(child)} holds secrets inline", HINT
                    continue
            yield from find_inline_secrets(value, child)
    elif isinstance(data, list):
        flag_value = False
        for i, item in enumerate(data):
            if flag_value and isinstance(item, str):
                flag_value = False
                yield (*path, i), f"{shown_path(path)} passes a secret inline", HINT
                continue
            if isinstance(item, str) and (m := _SECRET_FLAGS.match(item)):
                flag_value = m.group(2) != "="
                if not flag_value:
                    yield (*path, i), f"{shown_path(path)} passes a secret inline", HINT
                    continue
            yield from find_inline_secrets(item, (*path, i))
    elif isinstance(data, str):
        what = _looks_secret(data)
        if what is not None:
            hint = URL_HINT if what == "a URL with a password" else HINT
            yield path, f"{shown_path(path)} looks like {what}, written inline", hint


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def find_secrets_in_text(text: str) -> Iterator[tuple[int, int, str]]:
    """(line, column, what) of credential-shaped text anywhere in the file, comments included."""
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in _SECRET_VALUES:
            m = pattern.search(line)
            if m:
                yield number, m.start() + 1, what
                break


# key: value inside a line, block or flow style, key quoted or not; the value stops at a comma,
# a closing bracket or a comment.
_PAIR = re.compile(
    r"""(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*:(?:\s+|$)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,{}\[\]#][^,{}\[\]#]*?)?(?=\s*(?:[,}\]]|\s#|$))"""
)


def mask_secrets(line: str) -> str:
    """`line` with every secret-shaped value and every value of a secret-named key as ***."""
    for pattern, _ in _SECRET_VALUES:
        line = pattern.sub("***", line)

    def mask(m: re.Match[str]) -> str:
        key = m.group("key").strip("'\"")
        value = m.group("value")
        if not value or key in _REFERENCE_KEYS or not _SECRET_KEYS.search(key):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + "***"

    return _PAIR.sub(mask, line)


def masked_text(source: SpecSource, paths: set[Path_]) -> str:
    """The file's text with the scalars at `paths` (and keys that look like a credential) starred
    out, then every line masked. Stars of the same length keep the carets of other errors on
    the line in place; a multi-line value keeps its line breaks, so line numbers stay right."""
    spans = []
    for path in paths:
        if path and isinstance(path[-1], str) and _looks_secret(path[-1]):
            spans.append(source.key_span.get(path))
        spans.append(source.value_span.get(path))
    text, out, pos = source.text, [], 0
    for start, end in sorted(s for s in spans if s is not None):
        if start < pos:
            continue
        out.append(text[pos:start])
        lines = text[start:end].split("\n")
        out.append("\n".join("*" * len(line) if i == 0 else "***" for i, line in enumerate(lines)))
        pos = end
    out.append(text[pos:])
    return "\n".join(mask_secrets(line) for line in "".join(out).split("\n"))
