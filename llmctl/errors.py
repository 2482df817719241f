"""The one error tree: every failure a user can see is an LlmctlError with an exit code and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field


class ExitCode:
    """Exit codes shared by every command (UX.md)."""

    OK = 0
    ERROR = 1
    CHANGES = 2
    BLOCKED = 3
    ROLLED_BACK = 4
    LOCKED = 5
    INTERRUPTED = 130


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a spec: where it is, what is wrong, and what to change."""

    message: str
    file: str = ""
    line: int = 0
    column: int = 0
    hint: str = ""
    severity: str = "error"  # error | warning
    path: str = ""  # dotted key path, e.g. models[0].engine.dtype

    def location(self) -> str:
        """`FILE:LINE:COL`, as far as it is known."""
        if not self.file:
            return ""
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def to_json(self) -> dict[str, object]:
        """The stable JSON shape used by `validate --json`."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "path": self.path,
        }


class LlmctlError(Exception):
    """Base of every error llmctl reports; carries its exit code and a hint."""

    exit_code: int = ExitCode.ERROR

    def __init__(
        self, message: str, hint: str = "", exit_code: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail  # e.g. the engine's full output; shown only with --debug
        if exit_code is not None:
            self.exit_code = exit_code


@dataclass
class SpecInvalid(LlmctlError):
    """The spec failed validation; `diagnostics` holds every error found in one pass."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    source_text: str | None = None  # the file's text, for excerpts under each error

    def __post_init__(self) -> None:
        n = len(self.diagnostics)
        LlmctlError.__init__(self, f"{n} error{'s' if n != 1 else ''} in the spec")


class EngineMissing(LlmctlError):
    """A real engine (Pulumi CLI, Docker, a cluster) is needed and not present."""


class EngineError(LlmctlError):
    """The deployment engine reported a failure."""


class StateLocked(LlmctlError):
    """Another operation holds the state lock."""

    exit_code = ExitCode.LOCKED


class BudgetExceeded(LlmctlError):
    """The plan costs more than the budget allows (`on_exceed: block`)."""

    exit_code = ExitCode.BLOCKED


class RolledBack(LlmctlError):
    """A rollout failed its analysis and was rolled back."""

    exit_code = ExitCode.ROLLED_BACK


class Interrupted(LlmctlError):
    """The user pressed Ctrl-C; the message says how to recover."""

    exit_code = ExitCode.INTERRUPTED
