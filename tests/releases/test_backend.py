"""The state backend, on a directory and on S3 (moto stand-in): the same assertions for both."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from llmctl.errors import LlmctlError
from llmctl.releases.backend import (
    Backend,
    FileBackend,
    S3Backend,
    delete_record,
    open_backend,
    read_record,
    write_record,
)


def test_read_of_missing_key_is_none(backend: Backend) -> None:
    assert backend.read("llmctl/x/missing.json") is None


def test_write_then_read_and_overwrite(backend: Backend) -> None:
    backend.write("llmctl/x/a.json", b"one")
    assert backend.read("llmctl/x/a.json") == b"one"
    backend.write("llmctl/x/a.json", b"two")
    assert backend.read("llmctl/x/a.json") == b"two"


def test_list_returns_only_keys_under_prefix_sorted(backend: Backend) -> None:
    for key in (
        "llmctl/x/revisions/000002.json",
        "llmctl/x/revisions/000001.json",
        "llmctl/x/lock.json",
        "llmctl/xy/revisions/000001.json",
    ):
        backend.write(key, b"{}")
    assert backend.list("llmctl/x/revisions/") == [
        "llmctl/x/revisions/000001.json",
        "llmctl/x/revisions/000002.json",
    ]
    assert backend.list("llmctl/x/") == [
        "llmctl/x/lock.json",
        "llmctl/x/revisions/000001.json",
        "llmctl/x/revisions/000002.json",
    ]
    assert backend.list("llmctl/nothing/") == []


def test_delete_removes_and_tolerates_missing(backend: Backend) -> None:
    backend.write("llmctl/x/a.json", b"1")
    backend.delete("llmctl/x/a.json")
    assert backend.read("llmctl/x/a.json") is None
    backend.delete("llmctl/x/a.json")  # a second delete is not an error
    assert backend.list("llmctl/x/") == []


def test_create_exclusive_only_creates_once(backend: Backend) -> None:
    assert backend.create_exclusive("llmctl/x/lock.json", b"first") is True
    assert backend.create_exclusive("llmctl/x/lock.json", b"second") is False
    assert backend.read("llmctl/x/lock.json") == b"first"
    backend.delete("llmctl/x/lock.json")
    assert backend.create_exclusive("llmctl/x/lock.json", b"third") is True
    assert backend.read("llmctl/x/lock.json") == b"third"


@pytest.mark.parametrize("key", ["../escape.json", "/abs.json", "llmctl//x.json", "a/./b", ""])
def test_keys_that_escape_the_root_are_refused(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError, match="invalid state key"):
        backend.write(key, b"x")


@pytest.mark.parametrize("prefix", ["../", "llmctl/../../", "/llmctl/", "llmctl/.."])
def test_list_prefixes_that_escape_the_root_are_refused(backend: Backend, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid state"):
        backend.list(prefix)


def test_records_round_trip(backend: Backend) -> None:
    assert read_record(backend, "support-bot", "rollout") is None
    write_record(backend, "support-bot", "rollout", {"step": 2, "weights": [90, 10]})
    assert read_record(backend, "support-bot", "rollout") == {"step": 2, "weights": [90, 10]}
    assert backend.list("llmctl/support-bot/") == ["llmctl/support-bot/rollout.json"]
    delete_record(backend, "support-bot", "rollout")
    assert read_record(backend, "support-bot", "rollout") is None


def test_corrupt_record_is_an_error_naming_the_file(backend: Backend) -> None:
    backend.write("llmctl/support-bot/rollout.json", b"{not json")
    with pytest.raises(LlmctlError, match=r"rollout\.json is not valid JSON"):
        read_record(backend, "support-bot", "rollout")


def test_deployment_name_must_be_a_dns_label(backend: Backend) -> None:
    with pytest.raises(ValueError, match="invalid deployment name"):
        write_record(backend, "../other", "rollout", {})


# --- file backend specifics ------------------------------------------------------------------


def test_file_backend_keeps_state_private_and_leaves_no_temporaries(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "state")
    backend.write("llmctl/x/a.json", b"1")
    assert backend.create_exclusive("llmctl/x/b.json", b"2")
    for name in ("a.json", "b.json"):
        mode = stat.S_IMODE((tmp_path / "state/llmctl/x" / name).stat().st_mode)
        assert mode == 0o600
    assert stat.S_IMODE((tmp_path / "state/llmctl/x").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "state/llmctl/x").iterdir()) == ["a.json", "b.json"]
    assert backend.location("llmctl/x/a.json") == (tmp_path / "state/llmctl/x/a.json").as_uri()


def test_file_backend_unwritable_root_is_an_llmctl_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    backend = FileBackend(tmp_path / "file")
    with pytest.raises(LlmctlError, match="cannot write"):
        backend.write("llmctl/x/a.json", b"1")


# --- URLs ------------------------------------------------------------------------------------


def test_open_backend_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_backend(f"file://{tmp_path}/abs")
    assert isinstance(absolute, FileBackend) and absolute.root == tmp_path / "abs"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = open_backend("file://~/.llmctl/state")
    assert isinstance(home, FileBackend) and home.root == tmp_path / "home/.llmctl/state"


def test_open_backend_s3_url() -> None:
    backend = open_backend("s3://team-bucket/llmctl/prod?region=eu-west-1")
    assert isinstance(backend, S3Backend)
    assert (backend.bucket, backend.prefix, backend._region) == (
        "team-bucket",
        "llmctl/prod",
        "eu-west-1",
    )
    assert (
        backend.location("llmctl/x/lock.json") == "s3://team-bucket/llmctl/prod/llmctl/x/lock.json"
    )


@pytest.mark.parametrize("url", ["gs://bucket/x", "state", "s3:///prefix", "file://"])
def test_open_backend_refuses_unsupported_urls(url: str) -> None:
    with pytest.raises(LlmctlError) as info:
        open_backend(url)
    assert info.value.hint


# --- S3 specifics (moto stand-in) ------------------------------------------------------------


@pytest.mark.moto
def test_s3_keys_live_under_the_url_prefix(s3_bucket: str) -> None:
    import boto3

    backend = open_backend(f"s3://{s3_bucket}/team/state")
    backend.write("llmctl/x/a.json", b"1")
    objects = boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in objects] == ["team/state/llmctl/x/a.json"]
    root = open_backend(f"s3://{s3_bucket}")
    assert root.list("llmctl/") == []
    assert root.list("team/") == ["team/state/llmctl/x/a.json"]


@pytest.mark.moto
def test_s3_missing_bucket_is_an_llmctl_error_with_a_hint(s3_bucket: str) -> None:
    backend = open_backend(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/state")
    with pytest.raises(LlmctlError) as info:
        backend.write("llmctl/x/a.json", b"1")
    assert "NoSuchBucket" in info.value.message
    assert "create the bucket" in info.value.hint


def test_s3_without_credentials_is_an_llmctl_error_naming_the_listing() -> None:
    import botocore.exceptions

    from llmctl.releases.backend import S3Backend

    class NoCredentials:  # stand-in for a boto3 S3 client on a machine with no credentials
        def get_paginator(self, name: str) -> None:
            raise botocore.exceptions.NoCredentialsError()

    backend = S3Backend("acme-state", "team", client=NoCredentials())
    with pytest.raises(LlmctlError) as caught:
        backend.list("llmctl/app/revisions/")
    assert caught.value.message == (
        "cannot list s3://acme-state/team/llmctl/app/revisions/: NoCredentialsError"
    )
    assert "AWS_PROFILE" in caught.value.hint
