"""LOAD: llm.yaml -> SpecSource (data + positions) -> Spec, with every error placed at FILE:LINE:COL.

ruamel.yaml's round-trip loader keeps the line and column of each key and item; pydantic's error
locations are key paths into the same data, so each error maps back onto the user's file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from llmctl.errors import Diagnostic, LlmctlError
from llmctl.spec.model import Spec
from llmctl.spec.secrets import (
    HINT,
    find_inline_secrets,
    find_secrets_in_text,
    mask_secrets,
    shown_path,
)
from llmctl.spec.source import Path_, SpecSource, format_path
from llmctl.spec.wording import value_hint

# A spec is a page or two (500 models are about 100 KiB); anything larger is a mistake, and
# parsing it would take seconds (the offline plan of a pull request must be safe on any input).
MAX_BYTES = 256 * 1024


def read_source(path: str | Path) -> SpecSource:
    """Read and parse the YAML file; syntax errors become one Diagnostic in SpecInvalid."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LlmctlError(
            f"{name}: no such file", hint="run `llmctl init` to write one, or pass -f PATH"
        ) from None
    except IsADirectoryError:
        raise LlmctlError(
            f"{name}: is a directory", hint="pass the spec file: -f DIR/llm.yaml"
        ) from None
    except OSError as exc:
        raise LlmctlError(f"{name}: cannot read: {exc.strerror}") from None
    return parse_source(raw, name)


def parse_source(raw: bytes, name: str = "llm.yaml") -> SpecSource:
    """Parse bytes as YAML into a SpecSource; raises SpecInvalid on anything that is not a mapping."""
    from llmctl.errors import SpecInvalid

    text_for_excerpt: list[str] = []

    def fail(message: str, line: int = 1, col: int = 1, hint: str = "") -> SpecInvalid:
        text = text_for_excerpt[0] if text_for_excerpt else None
        if text is not None:  # nothing is parsed yet: mask line by line
            text = "\n".join(mask_secrets(line) for line in text.split("\n"))
        return SpecInvalid(
            diagnostics=[Diagnostic(message, name, line, col, hint)], source_text=text
        )

    if len(raw) > MAX_BYTES:
        raise fail(
            f"file is {len(raw) // 1024} KiB; a spec is at most {MAX_BYTES // 1024} KiB",
            hint="is this the right file?",
        )
    if b"\x00" in raw:
        raise fail("file is binary, not YAML", hint="pass the llm.yaml file with -f")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise fail("file is not UTF-8 text", line, 1, "save the file as UTF-8") from None
    source = SpecSource(name, text)
    text_for_excerpt.append(text)
    if not text.strip():
        raise fail("file is empty", hint="run `llmctl init` for a starting point")

    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from llmctl.spec.bounded_yaml import check_size, compose_data

    check_size(text, fail)
    try:
        doc = compose_data(text, source, fail)
    except MarkedYAMLError as exc:
        from llmctl.spec.wording import yaml_problem

        p = yaml_problem(exc, text)  # plain words, at the line to edit
        raise fail(p.message, p.line, p.column, p.hint) from None
    except YAMLError as exc:
        raise fail(f"YAML error: {exc}") from None
    except RecursionError:
        raise fail("YAML nests too deeply") from None
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"a {type(doc).__name__}"
        raise fail(
            f"the top level is {kind}; llm.yaml is a mapping",
            hint="start with `version: 1` and `name: ...`",
        )
    source.data = doc
    return source


def validate_structure(source: SpecSource) -> tuple[Spec | None, list[Diagnostic]]:
    """Secrets scan + pydantic validation; every finding as a Diagnostic, none lost.

    With errors, the Spec returned (if any) is of the file minus its offending keys, so that the
    semantic rules can still run and report in the same pass; the caller must not deploy it.
    """
    diags: list[Diagnostic] = []
    secret_paths: set[Path_] = set()
    for path, message, hint in find_inline_secrets(source.data):
        line, col = source.position(path)
        secret_paths.add(path)
        diags.append(Diagnostic(message, source.file, line, col, hint, path=shown_path(path)))
    reported = {d.line for d in diags}
    for line, col, what in find_secrets_in_text(source.text):
        if line not in reported:  # e.g. in a comment, or a key: found by its shape alone
            message = f"line {line} looks like it holds {what}"
            diags.append(Diagnostic(message, source.file, line, col, HINT))
    source.secret_paths = secret_paths
    try:
        spec = Spec.model_validate(source.data)
    except ValidationError as exc:
        seen: set[Path_] = set()
        for err in exc.errors():
            path = _data_path(tuple(err["loc"]), source.data)
            if path in secret_paths or path in seen:
                continue  # already reported, with a better message
            seen.add(path)
            diags.append(_diagnostic(err, path, source))
        return _pruned_spec(source.data, seen | secret_paths), diags
    if diags:
        return _pruned_spec(source.data, secret_paths), diags
    return spec, diags


def _pruned_spec(data: Any, paths: set[Path_]) -> Spec | None:
    """The spec without the keys at `paths`, if that validates; None when an error is not prunable."""
    import copy

    pruned = copy.deepcopy(data)
    for path in paths:
        if not path or isinstance(path[-1], int):
            return None  # removing a list item would shift the indexes the errors point at
        parent: Any = pruned
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    try:
        return Spec.model_validate(pruned)
    except ValidationError:
        return None


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Drop pydantic's union-member tags from a loc, keeping only real keys and indexes."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and "[" not in part
        ):
            path.append(part)  # a missing or unknown key of this mapping
            node = None
        # else: a tag such as 'int' or 'ReplicaRange' or 'function-after[...]': skip
    return tuple(path)


def _diagnostic(err: Any, path: Path_, source: SpecSource) -> Diagnostic:
    kind = err["type"]
    where = format_path(path) or "(top level)"
    hint = ""
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(path[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        message = f"unknown key '{key}' in {format_path(path[:-1]) or 'the top level'}"
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        line, col = source.position(path, prefer_key=True)
    elif kind == "missing":
        message = f"{where} is required"
        hint = value_hint(err, str(path[-1]), _field_help(path))
        line, col = source.position(path[:-1], prefer_key=True)
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {_short(value)})"
        if kind in ("literal_error", "enum"):
            from llmctl.spec.wording import choice_problem

            message, hint = choice_problem(err, where)
        elif kind == "string_pattern_mismatch":
            message = f"{where}: {value!r} is not valid"
            hint = value_hint(err, _key(path), _field_help(path))
        else:
            message = f"{where}: {msg}{shown}"
            hint = value_hint(err, _key(path), _field_help(path))
        line, col = source.position(path)
    return Diagnostic(message, source.file, line, col, hint, path=format_path(path))


def _key(path: Path_) -> str:
    """The key a value sits under (`replicas`), or its list's key for an item."""
    named = [str(p) for p in path if not isinstance(p, int)]
    return named[-1] if named else "this value"


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at `path`."""
    model: Any = Spec
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _inner_model(info.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None if get_origin(annotation) is None else None


def _allowed_keys(path: Path_) -> list[str]:
    model = _model_at(path)
    return sorted(model.model_fields) if model else []


def _field_help(path: Path_) -> str:
    if not path or isinstance(path[-1], int):
        return ""
    model = _model_at(path[:-1])
    if model is None:
        return ""
    info = model.model_fields.get(str(path[-1]))
    return (info.description or "") if info else ""


def _short(value: Any, limit: int = 60) -> str:
    """`value` as an error message shows it: its repr, at most `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"
