"""How results reach the terminal: rich on a TTY, plain lines in CI logs, JSON on request."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from rich.console import Console

from llmctl.errors import Diagnostic, LlmctlError, SpecInvalid

_state = {"no_color": False, "debug": False, "json_printed": False}


def configure(no_color: bool, debug: bool) -> None:
    """Set the global output options (from the root callback)."""
    _state["no_color"] = no_color
    _state["debug"] = debug
    _state["json_printed"] = False


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("LLMCTL_DEBUG") == "1"


def console(stderr: bool = False) -> Console:
    """A console that colours only on a TTY, never with NO_COLOR or --no-color."""
    no_color = _state["no_color"] or "NO_COLOR" in os.environ
    stream = sys.stderr if stderr else sys.stdout
    # Not a terminal (CI logs, pipes): rich would assume 80 columns and wrap tables; use $COLUMNS
    # or 120 instead.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 120)
    return Console(
        file=stream,
        no_color=no_color,
        highlight=False,
        soft_wrap=True,
        color_system=None if no_color else "auto",
        width=width,
    )


def json_text(data: Any) -> str:
    """Stable, sorted JSON text, as every `--json` prints it."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def print_json(data: Any) -> None:
    """Stable, sorted JSON on stdout."""
    _state["json_printed"] = True
    sys.stdout.write(json_text(data))


def error_json(exc: LlmctlError, command: str) -> dict[str, Any]:
    """What a `--json` command prints when it fails before printing its own shape: the error,
    the spec's located errors and warnings when there are any (`validate`: `valid: false`)."""
    diags = exc.diagnostics if isinstance(exc, SpecInvalid) else []
    warnings = exc.warnings if isinstance(exc, SpecInvalid) else []
    errors = [d.to_json() for d in diags] or [Diagnostic(exc.message, hint=exc.hint).to_json()]
    data: dict[str, Any] = {
        "error": {"message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code},
        "errors": errors,
        "warnings": [w.to_json() for w in warnings],
    }
    if command == "validate":
        data["valid"] = False
    return data


def json_pending() -> bool:
    """True until a command has printed its JSON document in this run."""
    return not _state["json_printed"]


def format_diagnostic(
    d: Diagnostic, source_text: str | None = None, number: int | None = None
) -> str:
    """`FILE:LINE:COL: message`, the line with a caret, then `hint: ...` (UX.md)."""
    from llmctl.spec.secrets import mask_secrets
    from llmctl.spec.source import SpecSource

    prefix = "warning: " if d.severity == "warning" else ("" if number is None else f"{number}. ")
    loc = d.location()
    out = [f"{prefix}{loc + ': ' if loc else ''}{d.message}"]
    if source_text is not None and d.line:
        excerpt = SpecSource(d.file, source_text).excerpt(d.line, d.column, mask=mask_secrets)
        if excerpt:
            out.append(excerpt)
    if d.hint:
        out.append(f"  hint: {d.hint}")
    return "\n".join(out)


def print_diagnostics(
    diags: list[Diagnostic], source_text: str | None, stderr: bool = True
) -> None:
    """Numbered errors or warnings, each with its excerpt and hint."""
    con = console(stderr=stderr)
    numbered = len([d for d in diags if d.severity == "error"]) > 1
    n = 0
    for d in diags:
        if d.severity == "error":
            n += 1
        style = "yellow" if d.severity == "warning" else "red"
        text = format_diagnostic(d, source_text, n if numbered and d.severity == "error" else None)
        head, _, rest = text.partition("\n")
        print_fitted(con, head, hang=2, style=style)
        excerpt, hint_mark, hint = rest.partition("  hint: ")
        if excerpt.rstrip("\n"):  # the file's lines: never folded
            con.print(excerpt.rstrip("\n"), markup=False)
        if hint_mark:
            print_fitted(con, hint_mark + hint, hang=4)


def report_error(exc: LlmctlError) -> None:
    """Show an error the way UX.md wants: message, then hint; no traceback."""
    con = console(stderr=True)
    if isinstance(exc, SpecInvalid):
        print_diagnostics(exc.diagnostics + exc.warnings, exc.source_text)
        con.print(f"error: {exc.message}", style="red bold", markup=False)
        return
    print_fitted(con, f"error: {exc.message}", hang=2, style="red bold")
    if exc.hint:
        print_fitted(con, f"  hint: {exc.hint}", hang=4)


def report_debug(exc: LlmctlError) -> None:
    """--debug: after the error, the traceback being handled and the engine's own output."""
    import traceback

    con = console(stderr=True)
    con.print("\ntraceback (--debug):", style="dim", markup=False)
    con.print(traceback.format_exc().rstrip(), markup=False, highlight=False)
    if exc.detail:
        con.print("\nengine output (--debug):", style="dim", markup=False)
        con.print(exc.detail.rstrip(), markup=False, highlight=False)


def print_fitted(con: Any, text: str, hang: int = 2, style: str | None = None) -> None:
    """Print `text`, folded at the console's width with a hanging indent (UX: no line wider
    than the terminal)."""
    import textwrap

    for n, raw in enumerate(text.split("\n")):  # a line of its own (a command) stays one
        indent = hang if n == 0 else len(raw) - len(raw.lstrip()) + 2
        # A `command` in backticks is not split where it fits on a line.
        kept = re.sub(r"`[^`\n]{1,60}`", lambda m: m.group(0).replace(" ", "\0"), raw)
        lines = textwrap.wrap(
            kept, con.width, subsequent_indent=" " * indent, break_on_hyphens=False
        ) or [""]
        for line in lines:
            con.print(line.replace("\0", " "), style=style, markup=False)
