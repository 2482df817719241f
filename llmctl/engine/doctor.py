"""`llmctl doctor`: is this machine ready to plan and apply? Each check says how to fix itself.

Checks: the Pulumi CLI (>= 3.181) and its aws and kubernetes plugins, AWS credentials, the
kubeconfig contexts the spec names, and an image builder (docker buildx or buildah). Given a
deployment, checks it does not need pass as "not needed"; without one, checks that depend on the
spec are optional (warnings), as is everything only some commands need (the image builder,
plugins the first apply downloads).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from llmctl.engine.workspace import INSTALL_HINT, MIN_PULUMI_VERSION
from llmctl.ir import Deployment

AWS_TIMEOUT_SECONDS = 5
PLUGINS = {"aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes"}  # plugin -> its Python SDK


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, what was found, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a failed optional check is a warning: doctor still exits 0

    @property
    def blocking(self) -> bool:
        """Failed and needed: `llmctl doctor` exits 1."""
        return not self.ok and not self.optional

    def to_json(self) -> dict[str, Any]:
        """The shape of one entry of `llmctl doctor --json`."""
        return asdict(self)


def doctor(deployment: Deployment | None = None, pulumi_command: Any = None) -> list[Check]:
    """Every check, in the order a new user would fix them."""
    checks = _pulumi_checks(pulumi_command)
    by_spec = [_aws_check(deployment), _aws_cli_check(deployment), _kubeconfig_check(deployment)]
    if deployment is None:  # no spec: whether these are needed depends on one
        by_spec = [
            replace(
                c, optional=True, detail=f"{c.detail} (no spec given: needed only if it uses this)"
            )
            if not c.ok
            else c
            for c in by_spec
        ]
    checks += by_spec
    checks.append(replace(_builder_check(), optional=True))
    return checks


def _pulumi_checks(command: Any) -> list[Check]:
    """The CLI's presence and version, then its plugins."""
    from pulumi.automation import CommandError
    from semver import VersionInfo

    if command is None:
        if shutil.which("pulumi") is None:
            return [
                Check("pulumi", False, "the Pulumi CLI is not on PATH", INSTALL_HINT),
                Check("pulumi plugins", False, "not checked: needs the Pulumi CLI", optional=True),
            ]
        from pulumi.automation import PulumiCommand

        try:
            command = PulumiCommand(skip_version_check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            return [Check("pulumi", False, f"`pulumi version` failed: {exc}", INSTALL_HINT)]
    cwd = os.getcwd()
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        raw = command.run(["version"], cwd, env).stdout.strip()
        version = VersionInfo.parse(raw.removeprefix("v"))
    except (CommandError, ValueError) as exc:
        return [Check("pulumi", False, f"cannot read `pulumi version`: {exc}", INSTALL_HINT)]
    upgrade = INSTALL_HINT.replace("install", "upgrade", 1)
    checks = [
        Check(
            "pulumi",
            version >= VersionInfo.parse(MIN_PULUMI_VERSION),
            f"Pulumi CLI v{version}"
            + (
                ""
                if version >= VersionInfo.parse(MIN_PULUMI_VERSION)
                else f", older than {MIN_PULUMI_VERSION}"
            ),
            upgrade,
        )
    ]
    try:
        plugins = json.loads(command.run(["plugin", "ls", "--json"], cwd, env).stdout or "[]")
    except (CommandError, ValueError) as exc:
        return [
            *checks,
            Check(
                "pulumi plugins",
                False,
                f"`pulumi plugin ls` failed: {exc}",
                "run `pulumi plugin ls` to see why",
            ),
        ]
    installed = {p.get("name"): p.get("version") for p in plugins if p.get("kind") == "resource"}
    missing = [name for name in PLUGINS if name not in installed]
    found = ", ".join(f"{n} {installed[n]}" for n in PLUGINS if n in installed)
    if not missing:
        checks.append(Check("pulumi plugins", True, found))
    else:
        fix = "; ".join(f"pulumi plugin install resource {n} {_sdk_version(n)}" for n in missing)
        checks.append(
            Check(
                "pulumi plugins",
                False,
                f"missing {', '.join(missing)} (downloaded on first apply if this "
                "machine can reach get.pulumi.com)" + (f"; found {found}" if found else ""),
                f"run `{fix}`",
                optional=True,
            )
        )
    return checks


def _sdk_version(plugin: str) -> str:
    """The plugin version matching the installed Python SDK (pulumi_aws 7.51.1 -> 7.51.1)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "v" + version(PLUGINS[plugin])
    except PackageNotFoundError:
        return ""


def _aws_check(deployment: Deployment | None) -> Check:
    """AWS credentials, by asking STS who they are (short timeouts, no retries)."""
    if deployment is not None and not _needs_aws(deployment):
        return Check("aws credentials", True, "not needed by this spec")
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return Check("aws credentials", False, "boto3 is not installed", "pip install boto3")
    fix = (
        "configure credentials: `aws configure`, `aws sso login`, or AWS_PROFILE / "
        "AWS_ACCESS_KEY_ID; needed for aws clusters, gateway.dns_zone and s3:// state"
    )
    try:
        cfg = Config(
            connect_timeout=AWS_TIMEOUT_SECONDS,
            read_timeout=AWS_TIMEOUT_SECONDS,
            retries={"max_attempts": 1},
        )
        who = boto3.session.Session().client("sts", config=cfg).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        what = f"{type(exc).__name__}: {exc}"
        if type(exc).__name__ == "NoCredentialsError":
            what = "no AWS credentials found (environment, ~/.aws, SSO or instance role)"
        return Check("aws credentials", False, what, fix)
    return Check("aws credentials", True, f"account {who.get('Account')} as {who.get('Arn')}")


def _aws_cli_check(deployment: Deployment | None) -> Check:
    """The AWS CLI: the kubeconfig of an EKS cluster runs `aws eks get-token` to authenticate."""
    import shutil

    if deployment is not None and not any(c.provider == "aws" for c in deployment.clusters):
        return Check("aws cli", True, "not needed by this spec")
    found = shutil.which("aws")
    if found:
        return Check("aws cli", True, found)
    return Check(
        "aws cli",
        False,
        "the AWS CLI is not on PATH; EKS kubeconfigs run `aws eks get-token`",
        "install AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)",
    )


def _needs_aws(d: Deployment) -> bool:
    return (
        any(c.provider == "aws" for c in d.clusters)
        or bool(d.gateway.dns_zone)
        or (d.state or "").startswith("s3://")
    )


def kubeconfig_paths() -> list[Path]:
    """$KUBECONFIG's files (":"-separated), or ~/.kube/config."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def kubeconfig_contexts(paths: list[Path]) -> tuple[list[str], str | None]:
    """Every context name in the files, and the current context (the first file's that has one)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    contexts: list[str] = []
    current = None
    for path in paths:
        if not path.is_file():
            continue
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
        contexts += [c.get("name") for c in data.get("contexts") or [] if c.get("name")]
        current = current or data.get("current-context") or None
    return list(dict.fromkeys(contexts)), current


def _kubeconfig_check(deployment: Deployment | None) -> Check:
    """The contexts the spec's kubernetes clusters name exist (or any context, with no spec)."""
    clusters = [c for c in deployment.clusters if c.provider == "kubernetes"] if deployment else []
    if deployment is not None and not clusters:
        return Check("kubeconfig", True, "not needed by this spec (EKS access comes from AWS)")
    fix = (
        "add the context with your cluster's tooling (e.g. `kubectl config set-context`), "
        "or set `kubernetes.context` / `kubeconfig` in llm.yaml"
    )
    try:
        default = kubeconfig_paths()
        found, current = kubeconfig_contexts(default)
        for c in clusters:  # a cluster may name its own kubeconfig file
            if c.kubeconfig:
                more, _ = kubeconfig_contexts([Path(c.kubeconfig).expanduser()])
                found += [x for x in more if x not in found]
    except Exception as exc:  # noqa: BLE001 - a malformed file: say which, do not crash
        return Check("kubeconfig", False, f"cannot read kubeconfig: {exc}", fix)
    if not found:
        where = ", ".join(str(p) for p in default)
        if not any(p.is_file() for p in default):
            what = (
                "$KUBECONFIG names no file that exists"
                if os.environ.get("KUBECONFIG")
                else "no kubeconfig"
            )
            fix = (
                "copy your cluster's kubeconfig to ~/.kube/config, or point KUBECONFIG "
                "(or the cluster's `kubeconfig:` in llm.yaml) at it"
            )
            return Check("kubeconfig", False, f"{what}: {where} does not exist", fix)
        return Check("kubeconfig", False, f"{where} has no contexts", fix)
    wanted = [c.context or current for c in clusters]
    missing = [w or "(no current context)" for w in wanted if w not in found]
    if missing:
        return Check(
            "kubeconfig",
            False,
            f"context {', '.join(missing)} not found; have {', '.join(found)}",
            fix,
        )
    return Check("kubeconfig", True, f"{len(found)} context(s); current {current or 'none'}")


def _builder_check() -> Check:
    """docker with buildx, or buildah: needed to build the serving image."""
    fix = (
        "install Docker Engine with the docker-buildx-plugin package, or buildah; only "
        "`llmctl image build` needs it"
    )
    if shutil.which("docker") is not None:
        try:
            probe = subprocess.run(
                ["docker", "buildx", "version"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return Check("image builder", False, f"docker buildx failed: {exc}", fix)
        if probe.returncode == 0:
            return Check("image builder", True, probe.stdout.strip() or "docker buildx")
    if shutil.which("buildah") is not None:
        return Check("image builder", True, "buildah")
    found = "docker without buildx" if shutil.which("docker") else "neither docker nor buildah"
    return Check("image builder", False, f"{found} on PATH", fix)
