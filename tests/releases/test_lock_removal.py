"""A lock that cannot be removed (issue 14, item 3, and a directory at the lock's path, item 10)
says exactly what to do, and the S3 permission hint names every permission the state needs.

The S3 cases use the real S3Backend against moto (the stand-in for S3) with one stand-in at the
boundary: a client whose DeleteObject answers AccessDenied, as S3 does for credentials without
s3:DeleteObject (moto's server does not enforce IAM policies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmctl.errors import ExitCode, LlmctlError, StateLocked
from llmctl.releases.backend import FileBackend, S3Backend
from llmctl.releases.lock import StateLock, force_unlock, read_lock

DEPLOYMENT = "support-bot"


class NoDeleteClient:
    """boto3's S3 client, except that DeleteObject is denied (a policy without s3:DeleteObject)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_object(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        raise ClientError(error, "DeleteObject")


@pytest.fixture
def no_delete_backend(s3_bucket: str) -> S3Backend:
    import boto3

    return S3Backend(s3_bucket, "team/state", client=NoDeleteClient(boto3.client("s3")))


@pytest.mark.moto
def test_access_denied_hint_names_every_permission_the_state_needs(no_delete_backend):
    with pytest.raises(LlmctlError) as info:
        no_delete_backend.delete("llmctl/x/lock.json")
    hint = info.value.hint
    for permission in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"):
        assert permission in hint
    assert f"arn:aws:s3:::{no_delete_backend.bucket}/team/state/*" in hint


@pytest.mark.moto
def test_a_lock_that_cannot_be_released_says_exactly_what_to_do(no_delete_backend):
    lock = StateLock(no_delete_backend, DEPLOYMENT, "apply")
    with pytest.raises(LlmctlError) as info, lock:
        pass
    where = no_delete_backend.location(f"llmctl/{DEPLOYMENT}/lock.json")
    assert "could not be removed" in info.value.message and where in info.value.message
    assert "exit 5" in info.value.message
    assert "s3:DeleteObject" in info.value.hint and f"aws s3 rm {where}" in info.value.hint
    assert "llmctl unlock --force" in info.value.hint
    # and unlock --force, with the same credentials, says the same rather than failing vaguely
    with pytest.raises(LlmctlError) as again:
        force_unlock(no_delete_backend, DEPLOYMENT)
    assert f"aws s3 rm {where}" in again.value.hint


@pytest.mark.moto
def test_a_failed_block_keeps_its_error_and_adds_the_stuck_lock(no_delete_backend):
    with pytest.raises(LlmctlError) as info, StateLock(no_delete_backend, DEPLOYMENT, "apply"):
        raise LlmctlError("the engine failed", hint="run llmctl apply again")
    assert info.value.message == "the engine failed"
    assert "run llmctl apply again" in info.value.hint and "aws s3 rm" in info.value.hint


def test_a_directory_at_the_lock_path_locks_and_unlock_force_removes_it(tmp_path: Path):
    backend = FileBackend(tmp_path)
    lock_path = tmp_path / "llmctl" / DEPLOYMENT / "lock.json"
    lock_path.mkdir(parents=True)
    assert "unreadable lock" in read_lock(backend, DEPLOYMENT)["operation"]
    with pytest.raises(StateLocked) as info:
        StateLock(backend, DEPLOYMENT, "apply").acquire()
    assert info.value.exit_code == ExitCode.LOCKED and "unlock --force" in info.value.hint
    force_unlock(backend, DEPLOYMENT)
    assert not lock_path.exists()
    with StateLock(backend, DEPLOYMENT, "apply"):
        assert lock_path.is_file()


def test_a_non_empty_directory_at_the_lock_path_says_how_to_remove_it(tmp_path: Path):
    backend = FileBackend(tmp_path)
    lock_path = tmp_path / "llmctl" / DEPLOYMENT / "lock.json"
    lock_path.mkdir(parents=True)
    (lock_path / "stray").write_text("x")
    with pytest.raises(LlmctlError) as info:
        force_unlock(backend, DEPLOYMENT)
    assert f"rm -r {lock_path}" in info.value.hint
