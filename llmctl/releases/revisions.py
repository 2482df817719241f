"""Revisions: one numbered record per apply or rollback, kept in the state backend.

A revision holds everything needed to understand or re-apply what was deployed without the spec
file: the spec text as the user wrote it, the compiled IR, the rendered image tags, the stack
outputs, when, who, the git commit, and the outcome.

Secrets: the spec text never holds one (the validator refuses inline secrets, only references
such as `secret_env`), and outputs the engine flags as secret are dropped before storing, so a
revision file is safe to read by anyone with access to the state.
"""

from __future__ import annotations

import builtins
import getpass
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from llmctl.errors import LlmctlError
from llmctl.ir import Deployment
from llmctl.release import Release, legacy_release
from llmctl.releases.backend import Backend, deployment_key

REVISION_FORMAT = 2  # 2: the Release; 1 (read too): the IR, {model: tag} and the repository
OUTCOMES = ("applied", "rolled-back", "failed")
Outcome = Literal["applied", "rolled-back", "failed"]
_NUMBERED = re.compile(r"(\d+)\.json")
_Lines = list[str]
_MAX_NUMBER_RACES = 50  # writers that can take a number between our list and our create


@dataclass(frozen=True)
class Revision:
    """One apply or rollback: the Release it deployed, and when, by whom, how it ended."""

    number: int
    deployment: str
    outcome: Outcome
    created_at: str  # ISO 8601, UTC
    user: str
    git_commit: str | None
    spec_text: str | None  # None for a rollback, which runs without the spec file
    release: Release
    outputs: dict[str, Any] = field(default_factory=dict)  # stack outputs, secrets dropped
    restored_from: int | None = None  # set on a rollback: the revision whose release it re-applied
    message: str = ""

    @property
    def ir(self) -> str:
        """The deployed IR's canonical JSON (`Deployment.to_json()`)."""
        return self.release.deployment.to_json()

    @property
    def image_tags(self) -> dict[str, str]:
        """{model: tag} of llmctl's bundled images this revision ran."""
        return self.release.image_tags()

    @property
    def image_repository(self) -> str:
        """The repository of llmctl's bundled image this revision used."""
        return self.release.image_repository

    def to_json(self) -> str:
        """The stored form: the Release nested as an object, so the file reads as plain JSON."""
        data: dict[str, Any] = {
            "format": REVISION_FORMAT,
            **{k: v for k, v in self.__dict__.items() if k != "release"},
            "release": json.loads(self.release.to_json()),
        }
        return json.dumps(data, sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "revision", state_url: str = "") -> Revision:
        """Load a stored revision (format 2, or 1 read as a Release); refuses other formats."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise LlmctlError(f"{where} is not valid JSON", hint="restore it from backup") from exc
        found = data.get("format") if isinstance(data, dict) else None
        if not isinstance(data, dict) or found not in (1, REVISION_FORMAT):
            raise LlmctlError(
                f"{where} has record format {found}; this llmctl reads 1 and {REVISION_FORMAT}",
                hint="upgrade llmctl to the version that wrote this revision",
            )
        data.pop("format")
        try:
            if found == 1:
                ir = Deployment.from_json(json.dumps(data.pop("ir", None)))
                tags, repository = data.pop("image_tags", {}), data.pop("image_repository", "")
                data["release"] = legacy_release(ir, tags or {}, repository, state_url)
            else:
                data["release"] = Release.from_data(data.get("release") or {})
            return cls(**data)
        except (TypeError, ValidationError) as exc:
            raise LlmctlError(f"{where} is not a revision record: {exc}") from exc

    def load_ir(self) -> Deployment:
        """The deployed IR."""
        return self.release.deployment

    def summary(self) -> dict[str, Any]:
        """Everything but the spec text, IR and outputs: one entry of `llmctl history --json`."""
        return {
            "number": self.number,
            "outcome": self.outcome,
            "created_at": self.created_at,
            "user": self.user,
            "git_commit": self.git_commit,
            "images": dict(self.release.images),
            "image_tags": self.image_tags,
            "image_repository": self.image_repository,
            "restored_from": self.restored_from,
            "message": self.message,
        }


class RevisionStore:
    """The revisions of one deployment: `llmctl/<deployment>/revisions/<N:06d>.json`."""

    def __init__(self, backend: Backend, deployment_name: str) -> None:
        self.backend = backend
        self.deployment = deployment_name
        self._prefix = deployment_key(deployment_name, "revisions") + "/"
        # Revisions that could not be read (corrupt, or not a revision), skipped by the listing
        # reads with what was wrong: one bad file must not block history, status, apply or
        # rollback. Reported by the commands; `get` of that number still fails, saying why.
        self.skipped: dict[int, str] = {}

    def _key(self, number: int) -> str:
        return f"{self._prefix}{number:06d}.json"

    def numbers(self) -> list[int]:
        """Every revision number present, ascending."""
        names = (key[len(self._prefix) :] for key in self.backend.list(self._prefix))
        return sorted(int(m.group(1)) for m in map(_NUMBERED.fullmatch, names) if m)

    def record(
        self,
        outcome: Outcome,
        release: Release,
        spec_text: str | None,
        outputs: Mapping[str, Any],
        restored_from: int | None = None,
        message: str = "",
        *,
        cwd: Path | None = None,
    ) -> Revision:
        """Store the next revision (max + 1); `cwd` is where to look for the git commit."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if release.name != self.deployment:
            raise ValueError(f"IR of {release.name!r} recorded in the store of {self.deployment!r}")
        draft = Revision(
            number=0,
            deployment=self.deployment,
            outcome=outcome,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            user=current_user(),
            git_commit=git_commit(cwd or Path.cwd()),
            spec_text=spec_text,
            release=release,
            outputs=public_outputs(outputs),
            restored_from=restored_from,
            message=message,
        )
        tried = 0
        for _ in range(_MAX_NUMBER_RACES):
            # Another writer may take a number between our list and our create: the exclusive
            # create tells us, and we move past both its number and ours.
            number = max([*self.numbers(), tried]) + 1
            revision = replace(draft, number=number)
            if self.backend.create_exclusive(self._key(number), revision.to_json().encode()):
                return revision
            tried = number
        raise LlmctlError(
            f"could not take a revision number for {self.deployment}: other writers kept taking it",
            hint="another llmctl is writing revisions of this deployment; retry when it is done",
        )

    def get(self, number: int) -> Revision:
        """Revision `number`, or an error that says how to list them."""
        key = self._key(number)
        data = self.backend.read(key)
        if data is None:
            raise LlmctlError(
                f"{self.deployment} has no revision {number}",
                hint="`llmctl history` lists the revisions",
            )
        return Revision.from_json(data, where=self.backend.location(key))

    def readable(self, number: int) -> Revision | None:
        """Revision `number`, or None when it cannot be read (noted in `skipped`)."""
        try:
            return self.get(number)
        except LlmctlError as exc:
            self.skipped[number] = exc.message
            return None

    def list(self, limit: int | None = None) -> list[Revision]:
        """Readable revisions newest first (at most `limit` of them)."""
        revisions = (self.readable(n) for n in self.numbers()[::-1])
        return [r for r in revisions if r is not None][:limit]

    def latest(self, outcome: Outcome | None = "applied") -> Revision | None:
        """The newest readable revision with `outcome` (any outcome when None), or None."""
        for n in reversed(self.numbers()):
            revision = self.readable(n)
            if revision is not None and (outcome is None or revision.outcome == outcome):
                return revision
        return None

    def previous_good(self, before: int | None = None) -> Revision | None:
        """The default rollback target: the newest applied revision older than the current one
        (or than `before`) that deployed something different from it.

        Identical re-applies are skipped, so a rollback always changes something.
        """
        numbers = self.numbers()
        if before is None:
            current = self.latest("applied")
            if current is None:
                return None
            before = current.number
        else:
            current = self.get(before) if before in numbers else None
        for n in reversed([n for n in numbers if n < before]):
            revision = self.readable(n)
            if revision is None or revision.outcome != "applied":
                continue
            if current is None or not same_deployed(revision, current):
                return revision
        return None

    def history(self, limit: int | None = None) -> builtins.list[tuple[Revision, _Lines]]:
        """Revisions newest first, each with what it changed from the applied revision before it
        (the first revision shows everything as added)."""
        revisions = self.list()
        result = []
        for i, revision in enumerate(revisions[:limit]):
            base = next((r for r in revisions[i + 1 :] if r.outcome == "applied"), None)
            result.append((revision, diff(base, revision)))
        return result

    def diff(self, a: Revision | None, b: Revision) -> _Lines:
        """What `b` deploys differently from `a` (see the module-level `diff`)."""
        return diff(a, b)


def same_deployed(a: Revision, b: Revision) -> bool:
    """Whether two revisions deploy the same thing: the same IR and images."""
    return a.release.same_as(b.release)


def public_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs safe to store: secret ones dropped, Pulumi `OutputValue`s unwrapped."""
    kept: dict[str, Any] = {}
    for name, value in outputs.items():
        if hasattr(value, "secret") and hasattr(value, "value"):  # pulumi.automation.OutputValue
            if value.secret:
                continue
            value = value.value
        elif isinstance(value, Mapping) and set(value) == {"value", "secret"}:
            if value["secret"]:
                continue
            value = value["value"]
        kept[name] = value
    return kept


def current_user() -> str:
    """Who is running llmctl: the login name, or $USER, or "unknown" (e.g. a bare container)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError or KeyError when no name is known
        return os.environ.get("USER") or "unknown"


def git_commit(cwd: Path) -> str | None:
    """HEAD of the git repository around `cwd`, "-dirty" appended for local changes; else None."""
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take the index lock under the user's feet.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or a hung filesystem
        return None
    sha = head.stdout.strip()
    return f"{sha}-dirty" if status.returncode == 0 and status.stdout.strip() else sha


# --- what changed between two revisions ------------------------------------------------------


def diff(old: Revision | None, new: Revision) -> list[str]:
    """Human lines for what `new` deploys differently from `old` ("+", "-", "~" like a plan).

    With no `old` (the first revision) everything shows as added.
    """
    a: dict[str, Any] = json.loads(old.ir) if old else {}
    b: dict[str, Any] = json.loads(new.ir)
    lines = _top_level(a, b) if old else []
    lines += _keyed(a.get("clusters", []), b.get("clusters", []), "name", "cluster", _cluster)
    lines += _keyed(_pools(a), _pools(b), "key", "pool", _pool)
    lines += _keyed(a.get("models", []), b.get("models", []), "name", "model", _model)
    old_models = {m["name"]: m for m in a.get("models", [])}
    for model in b.get("models", []):
        if model["name"] in old_models:
            before = old_models[model["name"]]["placements"]
            kind = f"model {model['name']} on"
            lines += _keyed(before, model["placements"], "pool", kind, _placement)
    lines += _gateway(a.get("gateway") or {}, b.get("gateway") or {})
    old_images = old.release.images if old else {}
    for model in sorted(set(old_images) | set(new.release.images)):
        before, after = old_images.get(model), new.release.images.get(model)
        if before is None:
            lines.append(f"+ image {model}: {after}")
        elif after is None:
            lines.append(f"- image {model}")
        elif before != after:
            lines.append(f"~ image {model}: {before} -> {after}")
    return lines


def _keyed(old: list[dict], new: list[dict], key: str, kind: str, detail: Any) -> list[str]:
    """Added, removed and changed items of two lists of objects identified by `key`."""
    a = {item[key]: item for item in old}
    b = {item[key]: item for item in new}
    lines = [f"- {kind} {name}" for name in a if name not in b]
    for name, item in b.items():
        if name not in a:
            lines.append(f"+ {kind} {name}{detail(None, item)[0]}")
        else:
            lines += [f"~ {kind} {name}: {change}" for change in detail(a[name], item)[1]]
    return lines


def _cluster(old: dict | None, new: dict) -> tuple[str, list[str]]:
    where = new.get("region") or new.get("context") or "current context"
    return f" ({new.get('provider')}, {where})", _changes(old, new, skip=("pools",))


def _pools(ir: dict) -> list[dict]:
    return [p for c in ir.get("clusters", []) for p in c.get("pools", [])]


def _pool(old: dict | None, new: dict) -> tuple[str, list[str]]:
    nodes = _range(new["min_nodes"], new["max_nodes"])
    kind = new.get("instance_type") or f"{new.get('gpus_per_node')}x {new.get('gpu_model')}"
    derived = ("node_vcpus", "node_memory_gib")  # from the instance type
    changes = _changes(
        old, new, skip=("min_nodes", "max_nodes", "key", "cluster", "name", *derived)
    )
    if old and (old["min_nodes"], old["max_nodes"]) != (new["min_nodes"], new["max_nodes"]):
        changes.insert(0, f"nodes {_range(old['min_nodes'], old['max_nodes'])} -> {nodes}")
    return f" ({kind}, {nodes} nodes)", changes


def _model(old: dict | None, new: dict) -> tuple[str, list[str]]:
    src = new["source"] + (f"@{new['revision']}" if new.get("revision") else "")
    where = ", ".join(
        f"{p['pool']} x{_range(p['min_replicas'], p['max_replicas'])}" for p in new["placements"]
    )
    summary = f" ({src}, {new['gpus']} GPU/replica, on {where})"
    # sizing and timing follow from the rest, flags from the engine settings; placements are
    # diffed on their own lines.
    changes = _changes(old, new, skip=("placements", "sizing", "timing", "engine.flags"))
    flags_only = not any(c.startswith("engine.") for c in changes)
    if old and old["engine"].get("flags") != new["engine"].get("flags") and flags_only:
        changes.append("engine.flags changed")
    return summary, changes


def _placement(old: dict | None, new: dict) -> tuple[str, list[str]]:
    replicas = _range(new["min_replicas"], new["max_replicas"])
    summary = f" ({replicas} replicas, {new.get('traffic', 'active')})"
    changes = []
    if old and (old["min_replicas"], old["max_replicas"]) != (
        new["min_replicas"],
        new["max_replicas"],
    ):
        changes.append(f"replicas {_range(old['min_replicas'], old['max_replicas'])} -> {replicas}")
    derived = ("update_surge", "rollout_surge")  # from the pool's room and the rollout
    changes += _changes(
        old, new, skip=("min_replicas", "max_replicas", "pool", "cluster", *derived)
    )
    return summary, changes


def _gateway(old: dict, new: dict) -> list[str]:
    if not old:  # the first revision
        lines = [f"+ gateway {new['hostname']}"] if new.get("hostname") else []
    else:
        lines = [f"~ gateway: {c}" for c in _changes(old, new, skip=("routes",))]

    def route(old_r: dict | None, new_r: dict) -> tuple[str, list[str]]:
        backends = ", ".join(f"{m} {w}%" for m, w in new_r.get("backends", []))
        return f" ({backends})", _changes(old_r, new_r, skip=("name",))

    lines += _keyed(old.get("routes", []), new.get("routes", []), "name", "route", route)
    return lines


def _top_level(a: dict, b: dict) -> list[str]:
    skip = ("clusters", "models", "gateway", "name", "state", "schema_version")
    return [f"~ {c}" for c in _changes(a, b, skip=skip)]


def _changes(old: dict | None, new: dict, skip: tuple[str, ...]) -> list[str]:
    """`path old -> new` for every leaf that differs; dicts are walked, lists compared whole."""
    if old is None:
        return []
    a, b = _flatten(old), _flatten(new)
    out = []
    for path in sorted(set(a) | set(b)):
        if any(path == s or path.startswith(s + ".") for s in skip):
            continue
        if a.get(path) != b.get(path):
            out.append(f"{path} {_fmt(a.get(path))} -> {_fmt(b.get(path))}")
    return out


def _flatten(value: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, path + "."))
        else:
            flat[path] = item
    return flat


def _range(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}..{high}"


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value)
