"""Plain words for what parsers say: YAML syntax errors at the line the user must change, and
"did you mean" for a value outside a fixed set (an enum or a Literal)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

_SIMPLE_KEY = re.compile(r"^\s*(?:-\s+)?([\w.\-/]+):(\S.*)$")


@dataclass(frozen=True)
class SyntaxProblem:
    """A YAML syntax error in the user's words: where, what, and what to change."""

    message: str
    line: int
    column: int
    hint: str


def _placed(message: str, pos: tuple[int, int], hint: str) -> SyntaxProblem:
    return SyntaxProblem(message, pos[0], pos[1], hint)


def yaml_problem(exc: Any, text: str) -> SyntaxProblem:
    """A ruamel MarkedYAMLError -> a SyntaxProblem placed on the line to edit."""
    problem = str(exc.problem or exc.context or "invalid YAML")
    context = str(exc.context or "")
    pm, cm = exc.problem_mark, exc.context_mark
    at = (pm.line + 1, pm.column + 1) if pm else (1, 1)
    opened = (cm.line + 1, cm.column + 1) if cm else at
    lines = text.splitlines()

    def line_text(n: int) -> str:
        return lines[n - 1] if 1 <= n <= len(lines) else ""

    if "could not find expected ':'" in problem and "simple key" in context:
        m = _SIMPLE_KEY.match(line_text(opened[0]))
        if m:
            key, value = m.group(1), m.group(2)
            col = line_text(opened[0]).index(f"{key}:") + len(key) + 1
            return _placed(
                f"`{key}:{value.strip()}` needs a space after the colon",
                (opened[0], col),
                f"write `{key}: {value.strip()}`",
            )
        return _placed("this line is not a `key: value` pair", opened, "add `: ` after the key")
    if problem.startswith("expected <block end>"):
        return _placed(
            "bad indentation: this line does not line up with the lines above it",
            at,
            f"keys of one mapping start in the same column (the block starts at line {opened[0]}); "
            "list items start with `- `",
        )
    if "mapping values are not allowed here" in problem:
        return _placed(
            "unexpected ':' here: this line is indented deeper than its key allows, or a value "
            "contains ': '",
            at,
            "align the key with the one above it, or quote the value ('a: b')",
        )
    if "'\\t'" in problem or "\\t" in problem:
        return _placed(
            "a tab character: YAML indents with spaces only", at, "replace the tab with spaces"
        )
    if "quoted scalar" in context:
        return _placed(
            f"the quote opened at line {opened[0]} is never closed",
            opened,
            "close the quote on the same line",
        )
    for kind, close in (("flow sequence", "]"), ("flow mapping", "}")):
        if kind in context:
            return _placed(
                f"the `{'[' if close == ']' else '{'}` opened at line {opened[0]} is not closed",
                opened,
                f"close it with `{close}`, with commas between the items",
            )
    if "duplicate key" in problem:
        key = re.search(r'duplicate key "([^"]*)"', problem)
        name = f"'{key.group(1)}' " if key else ""
        return _placed(
            f"key {name}appears twice in this mapping", at, "each key may appear once in a mapping"
        )
    return _placed(
        f"YAML syntax error: {problem}",
        at,
        "check the indentation and that every `key: value` has a space after the colon",
    )


def expected_values(err: dict[str, Any]) -> list[str]:
    """The allowed values of a pydantic literal/enum error (`'a', 'b' or 'c'` -> [a, b, c])."""
    expected = str((err.get("ctx") or {}).get("expected", ""))
    return [v.strip().strip("'") for v in re.split(r",\s*|\s+or\s+", expected) if v.strip()]


def choice_problem(err: dict[str, Any], where: str) -> tuple[str, str]:
    """A value outside a fixed set: the message, and a did-you-mean (or the list) as the hint."""
    allowed = expected_values(err)
    value = err.get("input")
    shown = value if isinstance(value, (str, int, float, bool)) else type(value).__name__
    if len(allowed) == 1:
        key = where.rsplit(".", 1)[-1]
        return f"{where} must be {allowed[0]} (got {shown!r})", f"write `{key}: {allowed[0]}`"
    message = f"{where}: {shown!r} is not one of {', '.join(allowed)}"
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(allowed)}"
    return message, hint


_TAKES = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number, without units or commas",
    "float_type": "a number, without units or commas",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text (quote it if it looks like a number, a date or true/false)",
    "dict_type": "a mapping: `key: value` lines indented under it",
    "model_type": "a mapping: `key: value` lines indented under it",
    "model_attributes_type": "a mapping: `key: value` lines indented under it",
    "list_type": "a list: one item per line, each starting with `- `",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}
_DNS_LABEL_WORDS = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def value_hint(err: dict[str, Any], key: str, description: str) -> str:
    """A hint for a value pydantic rejected, written for the error rather than copied from the
    field's schema description (which reads as a definition, not as advice)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    about = _phrase(description)
    if kind == "missing":
        return f"add `{key}:`" + (f" ({about})" if about else "")
    if kind in _TAKES:
        return f"`{key}` takes {_TAKES[kind]}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"`{key}` must be {words} {ctx.get(bound)}"
    if kind == "string_too_long":
        return f"`{key}` is at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern.startswith("^[a-z0-9]([-a-z0-9]*"):  # a DNS label
            return f"`{key}`: {_DNS_LABEL_WORDS}"
        return f"`{key}`: {about}" if about else f"`{key}` must match {pattern}"
    return f"`{key}`: {about}" if about else ""


def _phrase(description: str) -> str:
    """`Deployment name; DNS label.` -> `deployment name; DNS label` (to sit inside a hint)."""
    text = (description or "").strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
