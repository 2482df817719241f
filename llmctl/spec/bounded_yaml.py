"""YAML text -> plain data and the position of every key and value, in bounded time and memory.

A spec under a kilobyte can still describe a huge document: nine aliases of nine aliases, nine
levels deep, expand to hundreds of millions of values, and a loader that constructs objects
builds all of them. So the file is first counted with libyaml's event parser (fast, and it stops
at the limit), then composed by ruamel.yaml into a node graph, where an alias stays one shared
node, and turned into plain data here, counting every value produced, expanded aliases included.

Merge keys (`<<: *defaults`, a YAML 1.1 convention that GitOps users rely on) are applied here;
any tag beyond the core schema's (`!!omap`, `!!binary`, `!custom`) is a located error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from llmctl.spec.source import Path_, SpecSource, format_path

MAX_NODES = 20_000  # values written in the file; a 500-model spec has about 10,000
MAX_VALUES = 50_000  # values after expanding aliases and merge keys
MAX_DEPTH = 32  # the deepest path of llm.yaml is 7 levels
MAX_INT_DIGITS = 30

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_ALIAS_HINT = (
    "write the values out, or share fewer of them through YAML anchors (&) and aliases (*)"
)

# fail(message, line, column, hint) -> the exception to raise (the loader's SpecInvalid)
Fail = Callable[[str, int, int, str], Exception]


def check_size(text: str, fail: Fail) -> None:
    """Refuse a document with too many values or too deep a nesting, before composing it.

    Syntax errors are left to ruamel.yaml, which reports them with the loader's wording."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    nodes = depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                nodes, depth = nodes + 1, depth + 1
                if depth > MAX_DEPTH:
                    raise fail(
                        f"the document nests more than {MAX_DEPTH} levels deep",
                        *_mark(event.start_mark),
                        "llm.yaml nests at most 7 levels; is this the right file?",
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                nodes += 1
            if nodes > MAX_NODES:
                raise fail(
                    f"the document has more than {MAX_NODES:,} values",
                    *_mark(event.start_mark),
                    "a spec of 500 models has about 10,000; is this the right file?",
                )
    except yaml.YAMLError as exc:
        # libyaml's scanner refuses a flow nesting of 1,000 before it yields the events counted
        # above; composing it would be quadratic in ruamel's scanner (seconds for 10 KB).
        if "nesting depth" in str(getattr(exc, "problem", "")):
            raise fail(
                f"the document nests more than {MAX_DEPTH} levels deep",
                *_mark(getattr(exc, "problem_mark", None)),
                "llm.yaml nests at most 7 levels; is this the right file?",
            ) from None
        return  # a syntax error: ruamel.yaml reports it in the loader's wording


def compose_data(text: str, source: SpecSource, fail: Fail) -> Any:
    """Compose `text` with ruamel.yaml (syntax errors propagate as its MarkedYAMLError) and
    return plain data, recording positions in `source`; None for a document of comments only."""
    from ruamel.yaml import YAML

    root = YAML(typ="rt").compose(text)
    if root is None:
        return None
    return _Builder(source, fail).value(root, (), ())


def _mark(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _span(node: Any) -> tuple[int, int]:
    return (node.start_mark.index, node.end_mark.index)


def _tag(node: Any) -> str:
    tag = node.tag
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


class _Builder:
    """Node graph -> plain data, counting values and refusing cycles, unknown tags, huge ints."""

    def __init__(self, source: SpecSource, fail: Fail) -> None:
        self.source = source
        self.fail = fail
        self.values = 0
        self.built: set[int] = set()  # nodes built once: building one again expands an alias
        self.expanding: Path_ | None = None  # where the outermost alias being expanded is used

    def error(self, message: str, node: Any, hint: str = "") -> Exception:
        return self.fail(message, *_mark(node.start_mark), hint)

    def value(self, node: Any, path: Path_, ancestors: tuple[int, ...]) -> Any:
        outer = self.expanding
        if outer is None and id(node) in self.built:
            self.expanding = path
        self.built.add(id(node))
        try:
            return self._value(node, path, ancestors)
        finally:
            self.expanding = outer

    def too_many(self, node: Any, path: Path_) -> Exception:
        """The error for an expansion past MAX_VALUES, placed at the key whose alias began it."""
        where = self.expanding if self.expanding is not None else path
        key = where
        while key and isinstance(key[-1], int):
            key = key[:-1]
        line, col = self.source.key_pos.get(key) or _mark(node.start_mark)
        shown = format_path(key) or "the document"
        return self.fail(
            f"{shown} expands to more than {MAX_VALUES:,} values through YAML aliases",
            line,
            col,
            _ALIAS_HINT,
        )

    def _value(self, node: Any, path: Path_, ancestors: tuple[int, ...]) -> Any:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        self.values += 1
        if self.values > MAX_VALUES:
            raise self.too_many(node, path)
        if id(node) in ancestors:
            raise self.error("a YAML alias refers to a value that contains it", node, _ALIAS_HINT)
        if len(ancestors) >= MAX_DEPTH:
            raise self.error(f"the document nests more than {MAX_DEPTH} levels deep", node)
        inner = (*ancestors, id(node))
        tag = _tag(node)
        if isinstance(node, MappingNode):
            if tag != f"{_CORE}map":
                raise self.unsupported(tag, node)
            return self.mapping(node, path, inner)
        if isinstance(node, SequenceNode):
            if tag != f"{_CORE}seq":
                raise self.unsupported(tag, node)
            out = []
            for i, item in enumerate(node.value):
                self.source.value_pos[(*path, i)] = _mark(item.start_mark)
                self.source.value_span[(*path, i)] = _span(item)
                out.append(self.value(item, (*path, i), inner))
            return out
        return self.scalar(node, tag)

    def unsupported(self, tag: str, node: Any) -> Exception:
        shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
        return self.error(
            f"YAML tag {shown} is not supported in llm.yaml",
            node,
            "remove the tag: llm.yaml takes plain mappings, lists, strings, numbers and booleans "
            "(merge keys `<<: *anchor` are fine)",
        )

    def mapping(self, node: Any, path: Path_, ancestors: tuple[int, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in self.pairs(node, path, ancestors):
            key = self.key(key_node)
            if key in out:
                if key_node in _own_keys(node):
                    raise self.error(
                        f"YAML syntax error: found duplicate key {key!r}",
                        key_node,
                        "each key may appear once in a mapping",
                    )
                continue  # a merged key that an own key (or an earlier merge) already set
            child = (*path, str(key))
            self.source.key_pos[child] = _mark(key_node.start_mark)
            self.source.value_pos[child] = _mark(value_node.start_mark)
            self.source.key_span[child] = _span(key_node)
            self.source.value_span[child] = _span(value_node)
            out[key] = self.value(value_node, child, ancestors)
        return out

    def pairs(self, node: Any, path: Path_, ancestors: tuple[int, ...]) -> list[tuple[Any, Any]]:
        """The mapping's own (key, value) nodes, then those of its merge keys' mappings, in the
        order YAML's merge rule gives them precedence."""
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        own, merged = [], []
        for key_node, value_node in node.value:
            if _tag(key_node) != f"{_CORE}merge":
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for src in sources:
                if not isinstance(src, MappingNode) or _tag(src) != f"{_CORE}map":
                    raise self.error(
                        "a merge key `<<` takes a mapping or a list of mappings",
                        src,
                        "e.g. `<<: *defaults`, where `defaults` anchors a mapping",
                    )
                if id(src) in ancestors or len(ancestors) >= MAX_DEPTH:
                    raise self.error("a merge key `<<` merges a mapping into itself", src)
                self.values += len(src.value)
                if self.values > MAX_VALUES:
                    raise self.too_many(src, path)
                merged += self.pairs(src, path, (*ancestors, id(src)))
        return own + merged

    def key(self, node: Any) -> Any:
        from ruamel.yaml.nodes import ScalarNode

        if not isinstance(node, ScalarNode):
            raise self.error("a mapping key must be a plain name, not a list or mapping", node)
        key = self.scalar(node, _tag(node))
        return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)

    def scalar(self, node: Any, tag: str) -> Any:
        text: str = node.value
        if tag not in _SCALAR_TAGS:
            raise self.unsupported(tag, node)
        if tag == f"{_CORE}null":
            return None
        if tag == f"{_CORE}bool":
            return text.lower() == "true"
        if tag == f"{_CORE}int":
            return self.integer(node, text)
        if tag == f"{_CORE}float":
            return self.real(node, text)
        return text  # str, and timestamps: the field's own validation judges the text

    def integer(self, node: Any, text: str) -> int:
        digits = text.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
        if base != 10:
            digits = digits[2:]
        if len(digits) > MAX_INT_DIGITS:
            raise self.error(
                f"number with {len(digits)} digits is too large", node, "use a realistic value"
            )
        try:
            return sign * int(digits, base)
        except ValueError:
            raise self.error(f"cannot read {text[:40]!r} as a whole number", node) from None

    def real(self, node: Any, text: str) -> float:
        low = text.lower().replace("_", "")
        special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
        if low in special:
            return special[low]
        try:
            return float(low)
        except ValueError:
            raise self.error(f"cannot read {text[:40]!r} as a number", node) from None


def _own_keys(node: Any) -> list[Any]:
    return [k for k, _ in node.value]
