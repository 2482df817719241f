"""Where Pulumi keeps the stacks' state, and the passphrase that encrypts their secrets.

The state URL is the spec's `state:` (file:// or s3://), or file://$LLMCTL_HOME/state; llmctl's
own records (revisions, lock) live under the same URL (llmctl.releases), Pulumi's beside them in
`.pulumi/`. Stack secrets are encrypted with a passphrase: PULUMI_CONFIG_PASSPHRASE (or
PULUMI_CONFIG_PASSPHRASE_FILE) when set; otherwise, for a local state, one generated on first use
and kept in $LLMCTL_HOME/passphrase, readable by the user alone. The passphrase is handed to the
Pulumi CLI through its environment and never printed.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from llmctl.errors import LlmctlError
from llmctl.home import default_state_url, llmctl_home
from llmctl.ir import Deployment
from llmctl.releases.backend import Backend, open_backend, read_record
from llmctl.releases.revisions import Revision, RevisionStore

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"


def state_url(deployment: Deployment) -> str:
    """The state URL of `deployment`, normalised: file:///absolute/path or s3://bucket/prefix.

    A local directory is created (0700) so that Pulumi's DIY backend and llmctl's own records
    find it; relative and ~ paths resolve as `llmctl.releases.backend.open_backend` resolves them.
    """
    url = deployment.state or default_state_url()
    if url.startswith("file://"):
        raw = url[len("file://") :].split("?", 1)[0]
        if not raw:
            raise LlmctlError(f"state URL {url!r} has no path", hint="use file:///absolute/path")
        path = Path(raw).expanduser().absolute()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path.as_uri()
    if url.startswith("s3://"):
        return url
    raise LlmctlError(
        f"unsupported state backend {url!r}",
        hint="use file://~/.llmctl/state, file:///absolute/path or s3://bucket/prefix",
    )


@dataclass
class State:
    """A deployment's state: its URL (Pulumi's backend), llmctl's records there, its revisions."""

    url: str
    backend: Backend
    store: RevisionStore


def open_state(deployment: Deployment) -> State:
    """The state of `deployment`, at the spec's `state:` URL or the default one."""
    url = state_url(deployment)
    backend = open_backend(url)
    return State(url, backend, RevisionStore(backend, deployment.name))


def last_applied(state: State) -> Revision | None:
    """What is deployed now: the newest applied revision, or None (never applied, or destroyed
    since; `llmctl destroy` leaves a `destroyed` record naming the revision it tore down)."""
    revision = state.store.latest("applied")
    if revision is None:
        return None
    destroyed = read_record(state.backend, state.store.deployment, "destroyed")
    if destroyed is not None and int(destroyed.get("after_revision") or 0) >= revision.number:
        return None
    return revision


def passphrase_env(url: str) -> dict[str, str]:
    """The environment that gives the Pulumi CLI the secrets passphrase for the state at `url`."""
    if os.environ.get(PASSPHRASE_ENV) is not None:
        return {PASSPHRASE_ENV: os.environ[PASSPHRASE_ENV]}
    if os.environ.get(PASSPHRASE_FILE_ENV):
        return {PASSPHRASE_FILE_ENV: os.environ[PASSPHRASE_FILE_ENV]}
    if not url.startswith("file://"):
        # A passphrase generated on one laptop would lock everyone else out of a shared state.
        raise LlmctlError(
            f"the shared state {url} needs {PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV})",
            hint=f"set {PASSPHRASE_ENV} to the same secret everywhere this deployment is applied "
            "(your password manager or CI secret store); it encrypts the stacks' secrets",
        )
    return {PASSPHRASE_ENV: local_passphrase()}


def local_passphrase(home: Path | None = None) -> str:
    """The passphrase kept in $LLMCTL_HOME/passphrase (0600), generated on first use."""
    path = (home or llmctl_home()) / "passphrase"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_passphrase(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return _read_passphrase(path)


def _read_passphrase(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise LlmctlError(
            f"{path} is readable by other users (mode {mode:o})",
            hint=f"chmod 600 {path}; it encrypts the secrets in your Pulumi state",
        )
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise LlmctlError(
            f"{path} is empty",
            hint=f"restore it from backup, or set {PASSPHRASE_ENV}; without it the stacks' "
            "secrets cannot be decrypted",
        )
    return value
