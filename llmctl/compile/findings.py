"""Findings: the errors and warnings compile collects, each placed in the user's file."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmctl.errors import Diagnostic
from llmctl.spec.source import Path_, SpecSource


@dataclass
class Findings:
    """Errors and warnings found while compiling, placed in the user's file."""

    source: SpecSource
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def _diag(self, path: Path_, message: str, hint: str, severity: str) -> Diagnostic:
        from llmctl.spec.source import format_path

        line, col = self.source.position(path)
        message, hint = _capped(message), _capped(hint)  # a value of any length may be echoed
        return Diagnostic(message, self.source.file, line, col, hint, severity, format_path(path))

    def error(self, path: Path_, message: str, hint: str = "") -> None:
        self.errors.append(self._diag(path, message, hint, "error"))

    def warn(self, path: Path_, message: str, hint: str = "") -> None:
        self.warnings.append(self._diag(path, message, hint, "warning"))


def check_unique(f: Findings, names: list[str], path: Path_, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            f.error(
                (*path, i, "name"),
                f"{what} name '{name}' is used twice",
                f"{what} names must be unique",
            )
        seen.add(name)


def _capped(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
