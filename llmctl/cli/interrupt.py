"""Ctrl-C: one line saying what stopped and what state it left, exit 130, never a traceback.

Stdlib only: an interrupt can arrive while typer and rich are still being imported.
"""

from __future__ import annotations

import os
import sys

INTERRUPTED = 130
# Commands that only read: an interrupt leaves nothing behind.
READ_ONLY = {
    "validate",
    "schema",
    "plan",
    "status",
    "doctor",
    "history",
    "cost",
}
# Commands that change the deployment: the engine reports its own interrupts with the exact
# stack; one that reaches the top level stopped before or between engine calls.
CHANGING = {"apply", "destroy", "rollback", "rollout"}
GLOBAL_FLAGS = {"--debug", "--no-color"}


def command_of(argv: list[str]) -> str:
    """The subcommand in `argv` (without the program name), or '' before one is given."""
    words = [a for a in argv if not a.startswith("-")]
    return words[0] if words else ""


def message(argv: list[str]) -> str:
    """`interrupted: llmctl plan stopped; nothing was changed` and the like."""
    cmd = command_of(argv)
    what = f"llmctl {cmd}" if cmd else "llmctl"
    if not cmd or cmd in READ_ONLY:
        state = "nothing was changed"
    elif cmd in CHANGING:
        state = (
            "it stopped before or between engine calls; `llmctl status` and "
            f"`llmctl rollout status` show what runs, `llmctl {cmd}` again finishes it"
        )
    elif cmd == "render" or cmd == "image":
        state = "its output directory may be partly written; run it again"
    elif cmd == "init":
        state = "check that the spec file it was writing is complete, or remove it"
    elif cmd == "unlock":
        state = "run `llmctl unlock` to see whether the lock is still held"
    else:
        state = "nothing was changed"
    return f"interrupted: {what} stopped; {state}"


def exit_interrupted(argv: list[str], line: str | None = None) -> None:
    """Print the one line (unless the error was already reported) and leave at once with 130.

    `os._exit` skips interpreter shutdown: engine threads still running and asyncio loops the
    interrupt left open would otherwise make the exit wait, or print `Exception ignored ...`.
    """
    try:
        if line is None:
            line = message(argv)
        if line:
            sys.stderr.write(line + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, KeyboardInterrupt):
        pass
    os._exit(INTERRUPTED)
