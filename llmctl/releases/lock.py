"""The state lock: one operation at a time per deployment, across every machine sharing the state.

`llmctl/<deployment>/lock.json` is created with the backend's atomic create-if-absent, so of two
`llmctl apply` runs (a laptop and CI, say) exactly one gets it; the other fails at once with
exit code 5 and says who holds it. There is no expiry: a lock left by a killed process is
removed with `llmctl unlock --force` (`force_unlock`), after a human has checked.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from llmctl.errors import LlmctlError, StateLocked
from llmctl.releases.backend import Backend, deployment_key
from llmctl.releases.revisions import current_user

_ATTEMPTS = 3  # the holder may release between our create and our read: look again


class StateLock:
    """Context manager holding the lock of `deployment` for `operation` ("apply", "rollback"...).

    Released on exit, also when the block raises or the user presses Ctrl-C.
    """

    def __init__(self, backend: Backend, deployment: str, operation: str) -> None:
        self.backend = backend
        self.deployment = deployment
        self.operation = operation
        self.key = deployment_key(deployment, "lock.json")
        self.info: dict[str, Any] = {}

    @property
    def held(self) -> bool:
        """True between a successful acquire and the release."""
        return bool(self.info)

    def acquire(self) -> None:
        """Take the lock or raise StateLocked naming the holder."""
        info = {
            "id": uuid.uuid4().hex,  # tells our lock from one taken after a force-unlock
            "operation": self.operation,
            "user": current_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        data = (json.dumps(info, sort_keys=True, indent=2) + "\n").encode()
        holder: dict[str, Any] | None = None
        for _ in range(_ATTEMPTS):
            if self.backend.create_exclusive(self.key, data):
                self.info = info
                return
            holder = read_lock(self.backend, self.deployment)
            if holder is not None:
                break
        raise _locked(self.deployment, holder or {})

    def release(self) -> None:
        """Remove the lock if it is still ours (someone may have force-unlocked and re-locked)."""
        if not self.info:
            return
        holder = read_lock(self.backend, self.deployment)
        self.info, ours = {}, holder is not None and holder.get("id") == self.info["id"]
        if ours:
            _remove(self.backend, self.deployment)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except LlmctlError as stuck:
            if exc is None:
                raise
            # The block's own failure is the news; the stuck lock is what to do next.
            if isinstance(exc, LlmctlError):
                exc.hint = f"{exc.hint}; also: {stuck.message}: {stuck.hint}".lstrip("; ")


def read_lock(backend: Backend, deployment: str) -> dict[str, Any] | None:
    """Who holds the lock of `deployment`, or None when it is free."""
    try:
        data = backend.read(deployment_key(deployment, "lock.json"))
    except LlmctlError as exc:
        # Something we cannot read (a directory, no permission) still blocks everyone.
        return {"operation": f"unreadable lock ({exc.message})"}
    if data is None:
        return None
    try:
        info = json.loads(data)
    except ValueError:
        info = None
    # A lock file we cannot read is still a lock: report it rather than ignore it.
    return info if isinstance(info, dict) else {"operation": "unreadable lock file"}


def force_unlock(backend: Backend, deployment: str) -> dict[str, Any] | None:
    """Remove the lock whoever holds it; returns what it said, or None if there was none."""
    holder = read_lock(backend, deployment)
    _remove(backend, deployment)
    return holder


def _remove(backend: Backend, deployment: str) -> None:
    """Delete the lock; when that fails, say exactly how to get it removed, because until it is,
    every command on this deployment stops at the lock (exit 5)."""
    key = deployment_key(deployment, "lock.json")
    try:
        backend.delete(key)
    except LlmctlError as exc:
        where = backend.location(key)
        if where.startswith("s3://"):
            bucket_path = where[len("s3://") :].rsplit("/lock.json", 1)[0]
            how = (
                f"grant these credentials s3:DeleteObject on arn:aws:s3:::{bucket_path}/* and "
                f"run `llmctl unlock --force`, or remove it with credentials that may: "
                f"aws s3 rm {where}"
            )
        else:
            path = where.removeprefix("file://")
            how = f"fix that and run `llmctl unlock --force`, or remove it by hand: rm -r {path}"
        raise LlmctlError(
            f"the state lock {where} could not be removed ({exc.message}); until it is, every "
            f"command on {deployment} stops at it (exit 5)",
            hint=how,
        ) from exc


def _locked(deployment: str, holder: dict[str, Any]) -> StateLocked:
    user, host = holder.get("user", "?"), holder.get("host", "?")
    operation, since = holder.get("operation", "?"), holder.get("created_at", "?")
    hint = "wait for it to finish; if that process is gone, run `llmctl unlock --force`"
    if host == socket.gethostname() and not _alive(holder.get("pid")):
        hint = (
            f"process {holder.get('pid')} no longer runs on this host; "
            "if nothing else is using this state, run `llmctl unlock --force`"
        )
    return StateLocked(
        f"state of {deployment} is locked by {user}@{host} ({operation}, since {since})",
        hint=hint,
    )


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: do not claim the holder is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, under another user
        return True
    return True
