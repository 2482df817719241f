"""The state lock on a directory and on S3 (moto stand-in)."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from llmctl.errors import ExitCode, StateLocked
from llmctl.releases.backend import Backend
from llmctl.releases.lock import StateLock, force_unlock, read_lock
from llmctl.releases.revisions import current_user

LOCK_KEY = "llmctl/support-bot/lock.json"


def test_lock_is_written_while_held_and_removed_after(backend: Backend) -> None:
    with StateLock(backend, "support-bot", "apply") as lock:
        assert lock.held
        holder = read_lock(backend, "support-bot")
        assert holder is not None
        assert holder["operation"] == "apply"
        assert holder["user"] == current_user()
        assert holder["host"] == socket.gethostname()
        assert holder["pid"] == os.getpid()
        assert holder["created_at"].endswith("Z")
    assert not lock.held
    assert backend.read(LOCK_KEY) is None


def test_second_operation_is_refused_with_exit_code_5(backend: Backend) -> None:
    with StateLock(backend, "support-bot", "apply"):
        with pytest.raises(StateLocked) as info, StateLock(backend, "support-bot", "rollback"):
            pytest.fail("the second lock must not be acquired")
        error = info.value
        assert error.exit_code == ExitCode.LOCKED == 5
        holder = read_lock(backend, "support-bot")
        assert holder is not None
        assert error.message == (
            f"state of support-bot is locked by {current_user()}@{socket.gethostname()}"
            f" (apply, since {holder['created_at']})"
        )
        assert "llmctl unlock --force" in error.hint
        assert holder["operation"] == "apply"  # the refused one did not touch the lock
    assert backend.read(LOCK_KEY) is None


def test_other_deployments_are_not_locked(backend: Backend) -> None:
    with StateLock(backend, "support-bot", "apply"), StateLock(backend, "search", "apply") as other:
        assert other.held


def test_lock_is_released_when_the_block_raises(backend: Backend) -> None:
    with (
        pytest.raises(RuntimeError, match="engine failed"),
        StateLock(backend, "support-bot", "apply"),
    ):
        raise RuntimeError("engine failed")
    assert backend.read(LOCK_KEY) is None
    with pytest.raises(KeyboardInterrupt), StateLock(backend, "support-bot", "apply"):
        raise KeyboardInterrupt
    assert backend.read(LOCK_KEY) is None
    with StateLock(backend, "support-bot", "apply") as again:  # and can be taken again
        assert again.held


def test_force_unlock_frees_it_and_the_old_holder_leaves_the_new_lock_alone(
    backend: Backend,
) -> None:
    assert force_unlock(backend, "support-bot") is None
    first = StateLock(backend, "support-bot", "apply")
    first.acquire()
    removed = force_unlock(backend, "support-bot")
    assert removed is not None and removed["operation"] == "apply"
    with StateLock(backend, "support-bot", "rollback"):
        first.release()  # the old process finishes late
        holder = read_lock(backend, "support-bot")
        assert holder is not None and holder["operation"] == "rollback"
    assert backend.read(LOCK_KEY) is None


def test_lock_of_a_dead_process_on_this_host_says_so(backend: Backend) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    backend.write(
        LOCK_KEY,
        json.dumps(
            {
                "id": "x",
                "operation": "apply",
                "user": "alice",
                "host": socket.gethostname(),
                "pid": child.pid,
                "created_at": "2025-01-01T00:00:00Z",
            }
        ).encode(),
    )
    with pytest.raises(StateLocked) as info, StateLock(backend, "support-bot", "apply"):
        pass
    assert f"process {child.pid} no longer runs on this host" in info.value.hint
    assert "llmctl unlock --force" in info.value.hint
    assert backend.read(LOCK_KEY) is not None  # never broken automatically


def test_unreadable_lock_file_still_locks(backend: Backend) -> None:
    backend.write(LOCK_KEY, b"\x00garbage")
    with (
        pytest.raises(StateLocked, match="unreadable lock file"),
        StateLock(backend, "support-bot", "apply"),
    ):
        pass
    assert force_unlock(backend, "support-bot") == {"operation": "unreadable lock file"}
    assert backend.read(LOCK_KEY) is None
