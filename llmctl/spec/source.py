"""The spec file as text plus positions: where every key and value of the YAML stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Path_ = tuple[str | int, ...]


@dataclass
class SpecSource:
    """A loaded llm.yaml: its name, text, plain data, and the line/column of every path."""

    file: str
    text: str
    data: Any = None
    # path -> (line, col), 1-based; key positions for mapping entries, item positions for lists
    key_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # path -> (start, end) character offsets of scalar keys and values, for masking secrets
    key_span: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_span: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    secret_paths: set[Path_] = field(default_factory=set)  # inline secrets found by validation

    def position(self, path: Path_, prefer_key: bool = False) -> tuple[int, int]:
        """Best position for `path`: its value (or key), else its nearest ancestor's."""
        p = tuple(path)
        while p:
            first, second = (
                (self.key_pos, self.value_pos) if prefer_key else (self.value_pos, self.key_pos)
            )
            if p in first:
                return first[p]
            if p in second:
                return second[p]
            p = p[:-1]
        return (1, 1)

    def excerpt(self, line: int, column: int, mask: Callable[[str], str] | None = None) -> str:
        """The offending line with a caret under the column, passed through `mask` (which hides
        secrets: llmctl.spec.secrets.mask_secrets)."""
        lines = self.text.splitlines()
        if not 1 <= line <= len(lines):
            return ""
        text = lines[line - 1]
        if mask is not None:
            text = mask(text)
        if len(text) > 160:
            text = text[:157] + "..."
        caret = " " * max(column - 1, 0) + "^"
        return f"  {line:>4} | {text}\n       | {caret}"


def format_path(path: Path_) -> str:
    """('models', 0, 'engine') -> models[0].engine"""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
