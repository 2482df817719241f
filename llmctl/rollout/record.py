"""The rollout record: where each model's rollout stands, kept in the state backend.

`llmctl/<deployment>/rollout.json` holds one entry per model that has been rolled out (the last
rollout of each), written before and after every engine update, so that a crash or Ctrl-C leaves
a record `llmctl rollout status` can show and `resume` or `abort` can continue from. An entry
keeps both IRs (and the spec text), so resuming needs neither the spec file nor the revision that
preceded it. Writers hold the state lock.

`llmctl/<deployment>/rollout-control.json` carries requests (pause, abort, promote) from
`llmctl rollout ...` to a rollout running in another process, which holds the lock; the driver
looks at it between sleeps and takes the request off when it acts on it.

Statuses: running, paused, interrupted (Ctrl-C), failed (an engine update failed), and the
final ones: promoted, rolled-back, aborted. Any status but a final one can be resumed or aborted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmctl.errors import Interrupted, LlmctlError, RolledBack
from llmctl.ir import Deployment
from llmctl.release import Release, legacy_release
from llmctl.releases.backend import Backend, delete_record, read_record, write_record
from llmctl.releases.revisions import current_user
from llmctl.rollout.plan import ModelChange

if TYPE_CHECKING:
    from llmctl.rollout.analysis import AnalysisResult

RECORD = "rollout"
CONTROL = "rollout-control"
RECORD_FORMAT = 1
FINAL = ("promoted", "rolled-back", "aborted")
ACTIONS = ("pause", "abort", "promote")
_BULKY = ("old_release", "new_release", "old_ir", "new_ir", "spec_text")


def iso(ts: float) -> str:
    """Unix time as ISO 8601 UTC, second precision."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_all(backend: Backend, deployment: str) -> dict[str, dict[str, Any]]:
    """Every model's rollout entry, by model name."""
    data = read_record(backend, deployment, RECORD)
    if data is None:
        return {}
    if data.get("format") != RECORD_FORMAT:
        raise LlmctlError(
            f"the rollout record of {deployment} has format {data.get('format')}; this llmctl "
            f"reads {RECORD_FORMAT}",
            hint="upgrade llmctl to the version that wrote it",
        )
    rollouts = data.get("rollouts")
    return rollouts if isinstance(rollouts, dict) else {}


def load(backend: Backend, deployment: str, model: str) -> dict[str, Any] | None:
    """The rollout entry of `model`, or None."""
    return load_all(backend, deployment).get(model)


def save(backend: Backend, deployment: str, entry: dict[str, Any]) -> None:
    """Store `entry` (under its model), leaving the other models' entries as they are."""
    rollouts = load_all(backend, deployment)
    rollouts[entry["model"]] = entry
    write_record(backend, deployment, RECORD, {"format": RECORD_FORMAT, "rollouts": rollouts})


def unfinished(backend: Backend, deployment: str) -> list[dict[str, Any]]:
    """Entries whose rollout is not over (any status but a final one), by model name."""
    rollouts = load_all(backend, deployment)
    return [rollouts[m] for m in sorted(rollouts) if rollouts[m].get("status") not in FINAL]


def pick(backend: Backend, deployment: str, model: str | None) -> dict[str, Any]:
    """The entry `--model` names, or the one unfinished rollout (the newest one if none is)."""
    rollouts = load_all(backend, deployment)
    if model is not None:
        if model not in rollouts:
            raise LlmctlError(
                f"{deployment} has no rollout of {model}",
                hint="`llmctl rollout status` lists the rollouts",
            )
        return rollouts[model]
    if not rollouts:
        raise LlmctlError(
            f"{deployment} has no rollout",
            hint="a rollout starts when an apply changes a model's source, revision, engine or "
            "GPUs",
        )
    open_ = [e for e in rollouts.values() if e.get("status") not in FINAL]
    if len(open_) > 1:
        names = ", ".join(sorted(e["model"] for e in open_))
        raise LlmctlError(
            f"{deployment} has several unfinished rollouts ({names})", hint="pass --model"
        )
    if open_:
        return open_[0]
    return max(rollouts.values(), key=lambda e: str(e.get("updated_at", "")))


def new_entry(change: ModelChange, now: float, spec_text: str | None) -> dict[str, Any]:
    """A fresh entry for `change`, status running, at the strategy's first phase."""
    rollout = change.new_model.rollout
    first = {"canary": "canary", "blue-green": "blue-green-up", "rolling": "rolling"}
    return {
        "model": change.model,
        "deployment": change.new.name,
        "strategy": change.strategy,
        "status": "running",
        "phase": first[change.strategy],
        "step_index": 0 if change.strategy == "canary" else None,
        "steps": list(rollout.steps),
        "interval_seconds": rollout.interval_seconds,
        "analysis_thresholds": rollout.analysis.model_dump(mode="json"),
        "weights": {"stable": 100, "canary": 0},
        "canary_replicas": {},
        "stable": "old",
        "engine": None,  # "applying" between the two writes around an engine update
        "analyse_promotion": change.strategy == "canary" and 100 in rollout.steps,
        "old_identity": change.old_identity,
        "new_identity": change.new_identity,
        "started_at": iso(now),
        "updated_at": iso(now),
        "finished_at": None,
        "user": current_user(),
        "last_analysis": None,
        "message": "",  # a note on the status: paused at ..., interrupted at ...
        "failure": None,  # why the rollout is rolling back: the analysis figures
        "revision": None,
        "spec_text": spec_text,
        # the two releases it goes between: IRs, images, state
        "old_release": json.loads(change.old.to_json()),
        "new_release": json.loads(change.new.to_json()),
    }


def change_of(entry: dict[str, Any]) -> ModelChange:
    """The ModelChange an entry was started for, rebuilt from the releases it keeps (or, in an
    entry of an earlier llmctl, its IRs, image tags and repository)."""
    if "new_release" in entry:
        old = Release.from_data(entry["old_release"])
        new = Release.from_data(entry["new_release"])
    else:
        tags, repository = entry.get("image_tags") or {}, entry.get("image_repository") or ""
        old, new = (
            legacy_release(Deployment.from_json(json.dumps(entry[k])), tags, repository, "")
            for k in ("old_ir", "new_ir")
        )
    return ModelChange(
        entry["model"], entry["old_identity"], entry["new_identity"], entry["strategy"], old, new
    )


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry without the IRs and spec text: what `rollout status --json` shows."""
    return {k: v for k, v in entry.items() if k not in _BULKY}


def where(entry: dict[str, Any]) -> str:
    """Where the rollout stands, in words: "step 2/3 (50% canary)", "promoting", ..."""
    phase, steps = entry.get("phase"), entry.get("steps") or []
    canary = (entry.get("weights") or {}).get("canary", 0)
    if phase == "canary" and entry.get("step_index") is not None:
        return f"step {entry['step_index'] + 1}/{len(steps)} ({canary}% canary)"
    words = {
        "blue-green-up": "starting the new set (0% traffic)",
        "blue-green-switch": "switched to the new set",
        "blue-green-hold": "switched; old set kept until promote",
        "rolling": "rolling update",
        "promote": f"promoting (the stable track takes the new version; {canary}% canary)",
        "finalize": "finishing: removing the canary",
        "rollback": "rolling back",
        "abort": "aborting",
    }
    return words.get(str(phase), str(phase))


def request(backend: Backend, deployment: str, model: str, action: str, now: float) -> None:
    """Ask the process running `model`'s rollout to `action` ("pause", "abort", "promote")."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")
    pending = read_record(backend, deployment, CONTROL) or {}
    pending[model] = {"action": action, "requested_at": iso(now), "user": current_user()}
    write_record(backend, deployment, CONTROL, pending)


def take_request(backend: Backend, deployment: str, model: str) -> str | None:
    """The action requested for `model`, removed from the control record; None when none is."""
    pending = read_record(backend, deployment, CONTROL)
    if not pending or model not in pending:
        return None
    action = pending.pop(model).get("action")
    if pending:
        write_record(backend, deployment, CONTROL, pending)
    else:
        delete_record(backend, deployment, CONTROL)
    return action if action in ACTIONS else None


# --- results, and the words for how a rollout ended -------------------------------------------


@dataclass(frozen=True)
class RolloutEvent:
    """Progress for the CLI: what happened, in words, and the record as it now is."""

    kind: str  # started | apply | analysis | waiting | paused | promoted | rolled-back | ...
    model: str
    message: str
    entry: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout run ended (a rollback raises RolledBack instead of returning)."""

    model: str
    strategy: str
    status: str  # promoted | aborted | paused
    entry: dict[str, Any] = field(repr=False)
    revision: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of `rollout ... --json` (may only grow)."""
        return {**public(self.entry), "where": where(self.entry)}


def unfinished_error(entry: dict[str, Any]) -> LlmctlError:
    """A new rollout of a model whose last one is not over."""
    model = entry["model"]
    return LlmctlError(
        f"{model} has an unfinished rollout ({entry['status']} at {where(entry)})",
        hint=f"`llmctl rollout resume --model {model}` continues it; `llmctl rollout abort "
        f"--model {model}` returns its traffic to the stable version",
    )


def no_prometheus_error(model: str, strategy: str) -> LlmctlError:
    """A canary or blue-green rollout with nothing to judge it by."""
    return LlmctlError(
        f"{model} rolls out by {strategy}, which judges each step from Prometheus, and the spec "
        "has no monitoring.prometheus_url",
        hint="set monitoring.prometheus_url in llm.yaml, or use `rollout.strategy: rolling` for "
        "this model",
    )


def failure_text(entry: dict[str, Any], result: AnalysisResult, attempts: int, track: str) -> str:
    """Why a step failed: where, and the measured figures against the thresholds."""
    what = "canary" if track == "canary" else "new version"
    if result.verdict == "breach":
        why = f"the {what} of {entry['model']} failed its analysis at {where(entry)}"
    else:
        why = (
            f"the {what} of {entry['model']} got too little traffic to judge at {where(entry)} "
            f"after {attempts} interval{'s' if attempts != 1 else ''}"
        )
    return f"{why}: {'; '.join(result.reasons)}"


def revision_message(entry: dict[str, Any]) -> str:
    """The message of the revision that records how the rollout ended."""
    model, status = entry["model"], entry["status"]
    if status == "promoted":
        return (
            f"{entry['strategy']} rollout of {model} promoted "
            f"({entry['old_identity']} -> {entry['new_identity']})"
        )
    if status == "aborted":
        return f"rollout of {model} aborted at {entry.get('left_at')}"
    return entry.get("failure") or f"rollout of {model} rolled back"


def rolled_back_error(entry: dict[str, Any]) -> RolledBack:
    """Exit 4: the failure with its figures, and what the rollback left running."""
    model = entry["model"]
    why = entry.get("failure") or f"the rollout of {model} was rolled back"
    revision = f"; revision {entry['revision']} records it" if entry.get("revision") else ""
    return RolledBack(
        f"{why}. Rolled back: all traffic of {model} is on the stable version "
        f"({entry['old_identity']}), the new one ({entry['new_identity']}) is removed",
        hint=f"`llmctl rollout status --model {model}` shows the analysis{revision}",
    )


def interrupted_error(entry: dict[str, Any]) -> Interrupted:
    """Exit 130: where the rollout stopped and the commands that go on from there."""
    model = entry["model"]
    return Interrupted(
        f"the rollout of {model} was {entry['message']}",
        hint=f"`llmctl rollout status` shows where it stopped; `llmctl rollout resume --model "
        f"{model}` continues from there; `llmctl rollout abort --model {model}` returns its "
        "traffic to the stable version",
    )
