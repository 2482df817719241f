"""The Automation API boundary: one Pulumi stack per StackDef, run as an inline program.

Every function here imports `pulumi.automation` when called, never at module import. The Pulumi
CLI is a `PulumiCommand` that callers may inject (tests pass a stand-in); everything above it,
the workspace, the stack, the event stream and the result parsing, is Pulumi's own code.

Errors leave this module as LlmctlErrors: a held stack lock -> StateLocked (exit 5), no or too
old a CLI -> EngineMissing with install instructions, Ctrl-C during an update -> the update is
cancelled and Interrupted (exit 130) says how to recover, anything else -> EngineError naming the
resources that failed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmctl.errors import EngineError, EngineMissing, Interrupted, StateLocked
from llmctl.plan import Op, ResourceChange

PROJECT = "llmctl"
MIN_PULUMI_VERSION = "3.181.0"  # destroy of inline programs needs 3.181
OFFLINE_TIP = "; or run `llmctl plan --offline`"  # only where a preview is what was wanted
INSTALL_HINT = (
    "install the Pulumi CLI (>= 3.181): `curl -fsSL https://get.pulumi.com | sh` "
    "or `brew install pulumi`, then open a new shell" + OFFLINE_TIP
)
ROOT_TYPE = "pulumi:pulumi:Stack"
_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")  # Pulumi's colour markup in "raw" diagnostics
# Pulumi's step ops, folded into the plan's vocabulary (a replacement shows as one "replace").
_OPS: dict[str, Op] = {
    "same": "same",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "read": "same",
    "read-replacement": "same",
    "refresh": "same",
    "import": "create",
    "import-replacement": "replace",
    "discard": "delete",
    "discard-replaced": "replace",
    "remove-pending-replace": "same",
}


@dataclass(frozen=True)
class Progress:
    """One engine event, as the CLI shows it: a resource starting, done or failed, a message."""

    stack: str
    kind: Literal["start", "done", "failed", "diagnostic", "summary"]
    op: str = ""
    type: str = ""
    name: str = ""
    message: str = ""
    severity: str = ""
    changes: dict[str, int] = field(default_factory=dict)


OnProgress = Callable[[Progress], None]


@dataclass
class EngineConfig:
    """How to reach the engine: the state URL, the CLI's extra environment, the CLI itself."""

    backend_url: str
    env: dict[str, str]
    work_dir: Path
    command: Any = None  # pulumi.automation.PulumiCommand


def pulumi_command(injected: Any = None) -> Any:
    """The Pulumi CLI: `injected` if given, else the one on PATH, checked against the minimum."""
    if injected is not None:
        return injected
    from pulumi.automation import InvalidVersionError, PulumiCommand
    from semver import VersionInfo

    if shutil.which("pulumi") is None:
        raise EngineMissing("the Pulumi CLI is not on PATH", hint=INSTALL_HINT)
    try:
        return PulumiCommand(version=VersionInfo.parse(MIN_PULUMI_VERSION))
    except InvalidVersionError as exc:
        raise EngineMissing(
            f"the Pulumi CLI is too old or unusable: {exc}",
            hint=INSTALL_HINT.replace("install", "upgrade", 1),
        ) from None
    except (OSError, ValueError) as exc:
        raise EngineMissing(f"`pulumi version` failed: {exc}", hint=INSTALL_HINT) from None


def open_stack(
    name: str, program: Callable[[], None], config: EngineConfig, create: bool = True
) -> Any:
    """The stack `name` of project "llmctl" with `program` as its inline program; created if
    missing when `create`, else None when it does not exist."""
    from pulumi import automation as auto

    settings = auto.ProjectSettings(
        name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=config.backend_url)
    )
    config.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(config.work_dir),
        project_settings=settings,
        env_vars=dict(config.env),
        pulumi_command=pulumi_command(config.command),
    )
    with engine_errors(name, "select"):
        if create:
            return auto.create_or_select_stack(
                stack_name=name, project_name=PROJECT, program=program, opts=options
            )
        try:
            return auto.select_stack(
                stack_name=name, project_name=PROJECT, program=program, opts=options
            )
        except auto.StackNotFoundError:
            return None


def cancel(stack: Any) -> bool:
    """Cancel the stack's running update and drop its engine lock; False if there was none."""
    from pulumi.automation import CommandError

    try:
        stack.cancel()
    except CommandError:
        return False
    return True


def preview(stack: Any, on_progress: OnProgress | None = None) -> list[ResourceChange]:
    """Preview the stack: the change of every resource (same ones included), in step order."""
    import json

    seen: list[ResourceChange] = []

    def on_event(event: Any) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            type_, name = split_urn(meta.urn)
            if type_ != ROOT_TYPE:
                seen.append(ResourceChange(type_, name, _OPS.get(str(meta.op.value), "update")))
        _forward(stack.name, event, on_progress)

    with engine_errors(stack.name, "preview"):
        result = stack.preview(on_event=on_event, json=True, color="never")
    try:
        steps = json.loads(result.stdout).get("steps") or []
    except ValueError:
        steps = None  # not JSON (an old CLI): the events said the same thing
    changes = seen if steps is None else steps_to_changes(steps)
    counted = summary_ops(result.change_summary)
    if steps is not None and not changes and any(counted.values()):
        changes = seen  # a CLI that omits steps but counted changes: trust the events
    return changes


def up(
    stack: Any, on_progress: OnProgress | None = None, program: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Apply the stack (with `program` instead of the one it was opened with, if given); its
    outputs, secret ones dropped. Ctrl-C cancels the update."""
    failures = _Failures(stack.name, on_progress)
    with engine_errors(stack.name, "up", failures=failures, cancel=stack.cancel):
        result = stack.up(on_event=failures, color="never", program=program)
    return plain_outputs(result.outputs)


def destroy(stack: Any, on_progress: OnProgress | None = None) -> None:
    """Delete every resource of the stack (the stack and its history stay)."""
    failures = _Failures(stack.name, on_progress)
    with engine_errors(stack.name, "destroy", failures=failures, cancel=stack.cancel):
        stack.destroy(on_event=failures, color="never")


def outputs(stack: Any) -> dict[str, Any]:
    """The stack's current outputs, secret ones dropped."""
    with engine_errors(stack.name, "outputs"):
        return plain_outputs(stack.outputs())


def plain_outputs(values: Any) -> dict[str, Any]:
    """OutputValues unwrapped; secrets never leave the engine."""
    return {k: v.value for k, v in (values or {}).items() if not getattr(v, "secret", False)}


def split_urn(urn: str) -> tuple[str, str]:
    """urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME -> (TYPE, NAME)."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return "", urn
    return parts[2].rsplit("$", 1)[-1], parts[3]


def steps_to_changes(steps: list[dict[str, Any]]) -> list[ResourceChange]:
    """`preview --json` steps -> one change per resource (a replacement's three steps are one)."""
    changes: dict[str, ResourceChange] = {}
    for step in steps:
        urn = step.get("urn", "")
        type_, name = split_urn(urn)
        type_ = step.get("type") or type_
        if type_ == ROOT_TYPE:
            continue
        op = _OPS.get(step.get("op", ""), "update")
        if urn not in changes or op == "replace":
            changes[urn] = ResourceChange(type_, name, op)
    return list(changes.values())


def summary_ops(change_summary: Any) -> dict[str, int]:
    """A preview's change_summary ({OpType or str: count}) in the plan's vocabulary."""
    counts: dict[str, int] = {}
    for op, n in (change_summary or {}).items():
        key = _OPS.get(getattr(op, "value", op), "update")
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def to_progress(stack: str, event: Any) -> Progress | None:
    """An EngineEvent as a Progress, or None for the events nobody shows."""
    for kind, sub in (
        ("start", event.resource_pre_event),
        ("done", event.res_outputs_event),
        ("failed", event.res_op_failed_event),
    ):
        if sub is not None:
            type_, name = split_urn(sub.metadata.urn)
            if type_ == ROOT_TYPE:
                return None
            return Progress(stack, kind, op=str(sub.metadata.op.value), type=type_, name=name)  # type: ignore[arg-type]
    if event.diagnostic_event is not None:
        d = event.diagnostic_event
        type_, name = split_urn(d.urn) if d.urn else ("", "")
        message = _COLOR_TAG.sub("", d.message).strip()
        if not message:
            return None
        return Progress(
            stack, "diagnostic", type=type_, name=name, message=message, severity=d.severity
        )
    if event.summary_event is not None:
        return Progress(stack, "summary", changes=summary_ops(event.summary_event.resource_changes))
    return None


def _forward(stack: str, event: Any, on_progress: OnProgress | None) -> None:
    if on_progress is not None and (p := to_progress(stack, event)) is not None:
        on_progress(p)


class _Failures:
    """An on_event that remembers which resources failed, and why, and forwards progress."""

    def __init__(self, stack: str, on_progress: OnProgress | None) -> None:
        self.stack = stack
        self.on_progress = on_progress
        self.failed: list[str] = []  # "type name", from resOpFailedEvents
        self.reasons: dict[str, str] = {}  # "type name" -> first line of its error diagnostic

    def __call__(self, event: Any) -> None:
        p = to_progress(self.stack, event)
        if p is None:
            return
        key = f"{p.type} {p.name}"
        if p.kind == "diagnostic" and p.severity == "error" and p.name:
            self.reasons.setdefault(key, p.message.splitlines()[0])
        elif p.kind == "failed":
            self.failed.append(key)
        if self.on_progress is not None:
            self.on_progress(p)

    def names(self) -> list[str]:
        """Every failed resource with its reason; errors without a failure event count too."""
        keys = list(dict.fromkeys([*self.failed, *self.reasons]))
        return [f"{k} ({self.reasons[k]})" if k in self.reasons else k for k in keys]


@contextmanager
def engine_errors(
    stack: str,
    operation: str,
    failures: _Failures | None = None,
    cancel: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Map Pulumi's exceptions (and Ctrl-C) during `operation` on `stack` to LlmctlErrors."""
    from pulumi.automation import CommandError, ConcurrentUpdateError, InvalidVersionError

    try:
        yield
    except KeyboardInterrupt:
        raise _interrupted(stack, operation, cancel) from None
    except (ConcurrentUpdateError, CommandError) as exc:
        text = str(exc)
        # Only the engine's own lock texts: a provider's "409 Conflict" (say, from Kubernetes)
        # is a failed resource, not a held lock.
        if (
            isinstance(exc, ConcurrentUpdateError)
            or "currently locked" in text
            or "another update is currently in progress" in text.lower()
        ):
            raise StateLocked(
                f"stack {stack} is locked by another Pulumi operation",
                hint="wait for it to finish; if none is running (a killed process), run "
                "`llmctl unlock --force` (it runs `pulumi cancel` on every stack of the deployment)",
            ) from None
        raise _engine_error(stack, operation, text, failures) from None
    except InvalidVersionError as exc:
        raise EngineMissing(
            f"{operation} needs a newer Pulumi CLI: {exc}",
            hint=INSTALL_HINT.replace("install", "upgrade", 1),
        ) from None
    except FileNotFoundError as exc:
        if "pulumi" not in str(exc):
            raise
        raise EngineMissing("the Pulumi CLI is not on PATH", hint=INSTALL_HINT) from None
    except RuntimeError as exc:  # e.g. "summary event never found": the CLI died early
        raise _engine_error(stack, operation, str(exc), failures) from None


def _interrupted(stack: str, operation: str, cancel: Callable[[], None] | None) -> Interrupted:
    if cancel is None:  # select, preview, outputs: nothing was being changed
        return Interrupted(
            f"interrupted during {operation} of {stack}",
            hint="nothing was changed; run the command again",
        )
    try:
        cancel()
        cancelled = "the update was cancelled; resources being changed may be half-done"
        hint = "run `llmctl apply` again: it finishes or reverts what was left half-done"
    except KeyboardInterrupt:
        cancelled = "cancelling was interrupted too"
        hint = (
            f"run `pulumi cancel --stack {stack}` (or `llmctl unlock --force`) if the next "
            "`llmctl apply` says the state is locked, then `llmctl apply` again"
        )
    except Exception:  # noqa: BLE001 - the update may already have stopped by itself
        cancelled = "the update stopped"
        hint = (
            f"run `llmctl apply` again; if it says the state is locked, run "
            f"`pulumi cancel --stack {stack}` or `llmctl unlock --force` first"
        )
    if operation == "destroy":
        hint = hint.replace("llmctl apply", "llmctl destroy")
    return Interrupted(f"interrupted during {operation} of {stack}: {cancelled}", hint=hint)


def _engine_error(stack: str, operation: str, text: str, failures: _Failures | None) -> EngineError:
    """An EngineError naming the failed resources, or the CLI's own last error lines."""
    names = failures.names() if failures is not None else []
    if names:
        listed = "; ".join(names[:10]) + (
            f"; and {len(names) - 10} more" if len(names) > 10 else ""
        )
        message = f"{operation} of stack {stack} failed: {listed}"
    else:
        lines = [ln.strip() for ln in text.splitlines() if "error" in ln.lower() and ln.strip()]
        message = f"{operation} of stack {stack} failed" + (f": {lines[-1]}" if lines else "")
    if operation == "up":
        hint = (
            "fix the cause and run `llmctl apply` again: resources already created are kept "
            "and the next apply continues from them; `llmctl status` shows what runs"
        )
    elif operation == "destroy":
        hint = "fix the cause and run `llmctl destroy` again; it continues where it stopped"
    else:
        hint = "rerun with --debug for the engine's full output; `llmctl doctor` checks the setup"
    return EngineError(message, hint=hint, detail=text)
