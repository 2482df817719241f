"""Engine progress on the terminal: a rich progress bar on a TTY, one plain line per step in CI."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from llmctl.cli import output

if TYPE_CHECKING:
    from llmctl.engine.workspace import Progress


class ProgressReporter:
    """Engine progress: a rich bar on a TTY, one plain line per step otherwise."""

    VERBS = {
        "create": "creating",
        "update": "updating",
        "delete": "deleting",
        "replace": "replacing",
        "create-replacement": "creating replacement",
        "delete-replaced": "deleting replaced",
    }

    def __init__(self, tty: bool, stderr: bool) -> None:
        self.tty = tty
        self.stderr = stderr
        self._lock = threading.Lock()  # events arrive on the engine's threads
        self._bar: Any = None
        self._task: Any = None
        self._total = 0

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def expect(self, total: int) -> None:
        """How many steps the plan has; the bar starts at the first one (after any prompt)."""
        self._total = total

    def _start_bar(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.console(stderr=self.stderr),
            transient=False,
        )
        self._task = self._bar.add_task("applying", total=self._total)
        self._bar.start()

    def event(self, p: Progress) -> None:
        """Show one engine event (called from the engine's threads)."""
        with self._lock:
            if p.kind in ("start", "done", "failed") and p.op in ("same", "read", "refresh"):
                return
            if self._bar is None and self.tty and self._total:
                self._start_bar()
            if self._bar is not None:
                self._on_bar(p)
            else:
                self._on_line(p)

    def _on_bar(self, p: Progress) -> None:
        if p.kind == "start":
            self._bar.update(
                self._task, description=f"{p.stack}: {self.VERBS.get(p.op, p.op)} {p.type} {p.name}"
            )
        elif p.kind in ("done", "failed"):
            self._bar.advance(self._task)
        if p.kind == "failed" or (p.kind == "diagnostic" and p.severity in ("error", "warning")):
            self._bar.console.print(self._text(p), markup=False)

    def _on_line(self, p: Progress) -> None:
        text = self._text(p)
        if text:
            output.console(stderr=self.stderr).print(text, markup=False)

    def _text(self, p: Progress) -> str:
        what = f"{p.type} {p.name}".strip()
        if p.kind == "start":
            return f"{p.stack}: {self.VERBS.get(p.op, p.op)} {what}"
        if p.kind == "done":
            return f"{p.stack}: done {p.op} {what}"
        if p.kind == "failed":
            return f"{p.stack}: FAILED {p.op} {what}"
        if p.kind == "diagnostic" and p.severity in ("error", "warning"):
            return f"{p.stack}: {p.severity}: {what + ': ' if p.name else ''}{p.message}"
        return ""
