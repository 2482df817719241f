"""Backends for the releases tests: a directory under tmp_path, and S3 served by moto.

moto runs in server mode on loopback and is the stand-in for S3: the real S3Backend talks to
it over HTTP through boto3 (AWS_ENDPOINT_URL), exactly as it would talk to AWS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmctl.releases.backend import Backend, open_backend


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (stand-in for S3) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials pointed at the moto server, and a fresh bucket for this test."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Never pick up the developer's own AWS configuration.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    bucket = f"llmctl-state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.moto)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state URL of each kind the spec accepts."""
    if request.param == "file":
        return f"file://{tmp_path}/state"
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/team/state"


@pytest.fixture
def backend(state_url: str) -> Backend:
    """The backend behind `state_url`, opened the way the CLI opens it."""
    return open_backend(state_url)
