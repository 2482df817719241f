"""A stand-in for the Pulumi CLI, at the engine boundary only.

`StandinPulumiCommand` subclasses `pulumi.automation.PulumiCommand` and replaces the one thing
that spawns the `pulumi` binary: `run(args, cwd, additional_env, on_output, on_error)`.
Everything above it is Pulumi's real Automation API code: LocalWorkspace writes Pulumi.yaml,
Stack.create_or_select / preview / up / destroy / outputs / info / cancel build the real
argument lists, start the real inline-program language server and the real event-log
receiver (gRPC for CLIs newer than 3.205, a tailed file before), parse the real JSON, and map
failures through Pulumi's own `create_command_error`.

What the stand-in does NOT do: run the inline program (the real CLI would connect to the
language server at `--client=`), or talk to any provider. It keeps a tiny model of each stack's
state instead: `desired[stack]` (type, name) pairs, canned per test, against what the last `up`
left; preview reports create/same/delete against it, up applies it. Events are shaped as the
real engine writes them (resourcePreEvent, resOutputsEvent, diagnosticEvent, resOpFailedEvent,
summaryEvent, cancelEvent), and are delivered the same way the real CLI delivers them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

LOCKED_TEXT = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
    "to end or delete the lock file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/llmctl/{stack}/1f2e.json: created by "
    "ci@runner-7 (pid 4242) at 2025-06-01T10:00:00Z"
)


@dataclass
class StandinStack:
    exists: bool = True
    applied: list[tuple[str, str]] = field(default_factory=list)  # what the last up left
    outputs: dict[str, tuple[Any, bool]] = field(default_factory=dict)  # name -> (value, secret)
    updates: int = 0


class StandinPulumiCommand(PulumiCommand):
    """Stand-in for the Pulumi CLI: answers `run` like the CLI would (see the module docstring)."""

    def __init__(self, version: str = "3.272.0") -> None:
        # PulumiCommand.__init__ would run the real `pulumi version`; the stand-in is that CLI.
        self.command = "pulumi"
        self.version = VersionInfo.parse(version)
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        self.cwds: list[str] = []
        self.stacks: dict[str, StandinStack] = {}
        self.desired: dict[str, list[tuple[str, str]]] = {}  # default: one Namespace
        self.outputs: dict[str, dict[str, tuple[Any, bool]]] = {}  # set on the next up
        self.locked: set[str] = set()
        self.fail_up: dict[str, tuple[str, str, str]] = {}  # stack -> (type, name, error)
        self.interrupt_up: set[str] = set()
        self.cancelled: list[str] = []
        self.plugins: list[dict[str, Any]] = [
            {"name": "aws", "kind": "resource", "version": "7.51.1"},
            {"name": "kubernetes", "kind": "resource", "version": "4.34.2"},
        ]

    # --- the boundary -----------------------------------------------------------------------

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Any,
        on_output: Any = None,
        on_error: Any = None,
    ) -> CommandResult:
        """What `pulumi ARGS` would print and exit with; a failure raises like the real run."""
        args = [a for a in args if a != "--non-interactive"]
        self.calls.append(list(args))
        self.envs.append(dict(additional_env))
        self.cwds.append(cwd)
        stdout, stderr, code = self._dispatch(args)
        if on_output is not None:
            for line in stdout.splitlines():
                on_output(line)
        result = CommandResult(stdout=stdout, stderr=stderr, code=code)
        if code != 0:
            raise create_command_error(result)
        return result

    def _dispatch(self, args: list[str]) -> tuple[str, str, int]:
        verb = args[0]
        if verb == "version":
            return f"v{self.version}", "", 0
        if verb == "plugin" and args[1] == "ls":
            return json.dumps(self.plugins), "", 0
        if verb == "cancel":
            name = _flag(args, "--stack")
            self.cancelled.append(name)
            if name not in self.locked:
                return "", f"error: no update in progress for stack '{name}'", 255
            self.locked.discard(name)
            return f"The currently running update for '{name}' has been canceled!", "", 0
        if verb == "stack":
            return self._stack_command(args)
        if verb in ("preview", "up", "destroy"):
            return self._operation(verb, args)
        return "", f"error: the stand-in does not know `pulumi {' '.join(args)}`", 255

    def _stack_command(self, args: list[str]) -> tuple[str, str, int]:
        sub = args[1]
        if sub == "init":
            name = args[2]
            if name in self.stacks:
                return "", f"error: stack '{name}' already exists", 255
            self.stacks[name] = StandinStack()
            return f"Created stack '{name}'", "", 0
        name = _flag(args, "--stack")
        if name not in self.stacks:
            return "", f"error: no stack named '{name}' found", 255
        stack = self.stacks[name]
        if sub == "select":
            return "", "", 0
        if sub == "output":
            show = "--show-secrets" in args
            values = {
                k: (v if show or not secret else "[secret]")
                for k, (v, secret) in stack.outputs.items()
            }
            return json.dumps(values), "", 0
        if sub == "history":
            entry = {
                "kind": "update",
                "startTime": "2025-06-01T10:00:00.000Z",
                "message": "",
                "environment": {},
                "config": {},
                "result": "succeeded",
                "endTime": "2025-06-01T10:01:00.000Z",
                "version": stack.updates,
                "resourceChanges": {"create": len(stack.applied)},
            }
            return json.dumps([entry] if stack.updates else []), "", 0
        return "", f"error: unknown stack command {sub}", 255

    # --- preview / up / destroy ---------------------------------------------------------------

    def _operation(self, verb: str, args: list[str]) -> tuple[str, str, int]:
        name = _flag(args, "--stack")
        if name not in self.stacks:
            return "", f"error: no stack named '{name}' found", 255
        if name in self.locked:
            return "", LOCKED_TEXT.format(stack=name), 255
        stack = self.stacks[name]
        desired = (
            []
            if verb == "destroy"
            else self.desired.get(name, [("kubernetes:core/v1:Namespace", "namespace")])
        )
        root = ("pulumi:pulumi:Stack", f"llmctl-{name}")  # the engine reports the root too
        if verb == "destroy":
            steps = [("delete", *r) for r in stack.applied]
        else:
            steps = [("same" if stack.updates else "create", *root)]
            steps += [("create" if r not in stack.applied else "same", *r) for r in desired]
            steps += [("delete", *r) for r in stack.applied if r not in desired]
        planning = verb == "preview"
        events: list[dict[str, Any]] = [{"preludeEvent": {"config": {}}}]
        counts: dict[str, int] = {}
        failure = self.fail_up.get(name) if verb == "up" else None
        for op, type_, res_name in steps:
            meta = {"op": op, "urn": _urn(name, type_, res_name), "type": type_, "provider": ""}
            events.append({"resourcePreEvent": {"metadata": meta, "planning": planning}})
            if failure is not None and (type_, res_name) == failure[:2]:
                events.append(
                    {
                        "diagnosticEvent": {
                            "urn": meta["urn"],
                            "prefix": "error: ",
                            "message": failure[2] + "\n",
                            "color": "never",
                            "severity": "error",
                        }
                    }
                )
                events.append({"resOpFailedEvent": {"metadata": meta, "status": 1, "steps": 0}})
                continue
            events.append({"resOutputsEvent": {"metadata": meta, "planning": planning}})
            counts[op] = counts.get(op, 0) + 1
        if name in self.interrupt_up and verb == "up":
            self.locked.add(name)  # the update holds the stack's lock when Ctrl-C arrives
            # Ctrl-C reaches the CLI too (same process group): it starts cancelling, which the
            # engine announces with a cancelEvent, while Python raises KeyboardInterrupt.
            self._deliver(args, [*events[:2], {"cancelEvent": {}}])
            raise KeyboardInterrupt
        if failure is not None:
            events.append(
                {
                    "diagnosticEvent": {
                        "message": "update failed",
                        "color": "never",
                        "severity": "error",
                        "prefix": "error: ",
                    }
                }
            )
        events.append(
            {
                "summaryEvent": {
                    "maybeCorrupt": False,
                    "durationSeconds": 1,
                    "resourceChanges": counts,
                    "PolicyPacks": {},
                }
            }
        )
        events.append({"cancelEvent": {}})
        self._deliver(args, events)
        if failure is not None:
            return f"Updating ({name}):\n error: {failure[2]}", "error: update failed", 255
        if verb == "preview":
            digest = {
                "config": {},
                "changeSummary": counts,
                "duration": 1000000,
                "steps": [
                    {"op": op, "urn": _urn(name, t, n), "type": t, "provider": ""}
                    for op, t, n in steps
                ],
            }
            return json.dumps(digest, indent=4) if "--json" in args else "Previewing", "", 0
        stack.applied = list(desired)
        stack.updates += 1
        if verb == "up":
            stack.outputs = dict(self.outputs.get(name, {}))
        else:
            stack.outputs = {}
        return f"{verb} of {name} done", "", 0

    def _deliver(self, args: list[str], events: list[dict[str, Any]]) -> None:
        """Send the events where `--event-log` says: a gRPC endpoint or a file to append to."""
        target = _flag(args, "--event-log")
        stamped = [
            {"sequence": i, "timestamp": int(time.time()), **e} for i, e in enumerate(events)
        ]
        if target.startswith("tcp://"):
            import grpc
            from pulumi.runtime.proto import events_pb2, events_pb2_grpc

            with grpc.insecure_channel(target.removeprefix("tcp://")) as channel:
                stub = events_pb2_grpc.EventsStub(channel)
                stub.StreamEvents(
                    iter([events_pb2.EventRequest(event=json.dumps(e)) for e in stamped])
                )
        else:
            with open(target, "a", encoding="utf-8") as f:
                for e in stamped:
                    f.write(json.dumps(e) + "\n")


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1] if name in args else ""


def _urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::llmctl::{type_}::{name}"
