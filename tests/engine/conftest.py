"""Fixtures for the engine tests: the Pulumi CLI stand-in, compiled examples, API keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.standin_pulumi import StandinPulumiCommand  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/llm.yaml"))


def example_path(name: str) -> Path:
    return ROOT / "examples" / name / "llm.yaml"


@pytest.fixture
def standin() -> StandinPulumiCommand:
    """A fresh stand-in for the Pulumi CLI (the only thing below the Automation API faked)."""
    return StandinPulumiCommand()


@pytest.fixture
def standin_cli(standin, monkeypatch) -> StandinPulumiCommand:
    """Make the CLI commands use the stand-in as "the Pulumi CLI on PATH"."""
    from llmctl.engine import workspace

    real = workspace.pulumi_command
    monkeypatch.setattr(
        workspace, "pulumi_command", lambda injected=None: real(injected or standin)
    )
    return standin


API_KEYS = "client-a=test-key-aaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    """Fake API keys (the gateways read them at apply), no passphrase, and no AWS access at all:
    no credentials, no developer config, no instance metadata (it is not on loopback)."""
    monkeypatch.setenv("LLMCTL_API_KEYS", API_KEYS)
    for var in (
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "KUBECONFIG",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto in server mode on loopback: the stand-in for S3 behind an s3:// state."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_state(moto_endpoint, monkeypatch):
    """Credentials pointed at moto, the bucket examples/aws names, and a shared passphrase."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "shared-test-passphrase")
    s3 = boto3.client("s3")
    if "acme-llmctl-state" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="acme-llmctl-state")
    for obj in s3.list_objects_v2(Bucket="acme-llmctl-state").get("Contents", []):
        s3.delete_object(Bucket="acme-llmctl-state", Key=obj["Key"])  # a fresh state per test
    return "s3://acme-llmctl-state/aws-serving"


def compiled(name: str):
    from llmctl.compile import compile_file

    return compile_file(example_path(name))
