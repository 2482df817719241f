"""The state backend: a small key/value store behind the spec's `state:` URL (file:// or s3://).

Keys are "/"-separated relative paths such as `llmctl/support-bot/lock.json`. The only
primitive beyond read/write/list/delete is `create_exclusive`, an atomic create-if-absent:
the state lock and revision numbering are both built on it, so two laptops or a laptop and CI
sharing one bucket cannot both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from llmctl.errors import LlmctlError

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Backend(Protocol):
    """What revisions, the lock and the rollout record need from a state store."""

    def read(self, key: str) -> bytes | None:
        """The bytes stored at `key`, or None when there is nothing there."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing what was there; readers never see half a write."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` only if nothing is there; True if this call created it."""
        ...

    def location(self, key: str) -> str:
        """Where `key` lives, as a URL a user can look at (for messages)."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the backend root (absolute, `..`, empty segments)."""
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        raise ValueError(f"invalid state key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Like `check_key`, for a list prefix: empty, or ending in "/" or part of a name, is fine."""
    head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    if head:
        check_key(head)
    if prefix.startswith("/") or prefix.rsplit("/", 1)[-1] in (".", ".."):
        raise ValueError(f"invalid state prefix {prefix!r}")
    return prefix


class FileBackend:
    """State in a local (or shared, e.g. NFS) directory; files are private to the user (0600)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def location(self, key: str) -> str:
        """file:// URL of `key`."""
        return self._path(key).as_uri()

    def read(self, key: str) -> bytes | None:
        """The bytes at `key`, or None."""
        path = self._path(key)
        with _os_errors(f"cannot read {path}"):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None
            except IsADirectoryError:
                raise LlmctlError(
                    f"{path} is a directory, not a file", hint=f"remove it: rm -r {path}"
                ) from None

    def write(self, key: str, data: bytes) -> None:
        """Write a temporary file and rename it over `key`, so a crash never leaves half a file."""
        path = self._path(key)
        with _os_errors(f"cannot write {path}"):
            tmp = self._write_tmp(path, data)
            try:
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Hard-link a complete temporary file to `key`: atomic, and never visible half-written."""
        path = self._path(key)
        with _os_errors(f"cannot write {path}"):
            tmp = self._write_tmp(path, data)
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            except OSError:
                # Some filesystems (certain network or FUSE mounts) refuse hard links;
                # O_EXCL is still atomic there, only a reader may briefly see an empty file.
                return _create_excl(path, data)
            finally:
                tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        """Keys under the directory part of `prefix` that start with `prefix`, sorted."""
        base_key = check_prefix(prefix).rsplit("/", 1)[0] if "/" in prefix else ""
        base = self._path(base_key) if base_key else self.root
        if not base.is_dir():
            return []
        keys = []
        with _os_errors(f"cannot list {base}"):
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith("."):  # skip temporary files
                    key = path.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Remove `key` if it exists."""
        path = self._path(key)
        with _os_errors(f"cannot delete {path}"):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # e.g. a directory left at the lock's path; refused unless empty
                return
            path.unlink(missing_ok=True)

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        # The state holds deployment details and outputs: keep directories 0700 and files 0600.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)


def _create_excl(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    try:
        yield
    except PermissionError as exc:
        hint = "check the owner and mode of the state directory"
        raise LlmctlError(f"{what}: permission denied", hint=hint) from exc
    except OSError as exc:
        raise LlmctlError(f"{what}: {exc.strerror or exc}") from exc


class S3Backend:
    """State in an S3 bucket under a prefix; AWS_ENDPOINT_URL (MinIO, moto) is honoured by boto3."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client
        self._region = region
        self._profile = profile

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use (boto3 is not loaded by `llmctl --help`)."""
        if self._client is None:
            import boto3

            session = boto3.session.Session(profile_name=self._profile, region_name=self._region)
            self._client = session.client("s3")
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        """s3:// URL of `key` (or of a listing prefix: not validated, only shown)."""
        return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}{key}"

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        with self._errors("read", key):
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except Exception as exc:
                if _s3_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            return bytes(resp["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        """PUT the object (S3 PUTs are atomic: readers see the old or the new object)."""
        with self._errors("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """PUT with `If-None-Match: *` (S3 conditional writes): S3 refuses it if the key exists.

        An S3-compatible store that ignores the header would silently overwrite; AWS S3,
        MinIO (2024+) and moto honour it.
        """
        with self._errors("write", key):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
                )
            except Exception as exc:
                # 412: the key exists; 409: another conditional write to it is in flight.
                if _s3_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                raise
            return True

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, relative to the backend prefix, sorted."""
        root = f"{self.prefix}/" if self.prefix else ""
        full = root + check_prefix(prefix)
        keys: list[str] = []
        with self._errors("list", prefix or "/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                keys.extend(obj["Key"][len(root) :] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete the object (S3 does not complain about a missing key)."""
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    @contextlib.contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        """Turn botocore failures into an LlmctlError that names the object and what to check."""
        try:
            yield
        except LlmctlError:
            raise
        except Exception as exc:
            if not type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
                raise
            code = _s3_code(exc)
            hint = "check AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the state URL"
            if code == "NoSuchBucket":
                hint = f"create the bucket {self.bucket} or fix `state:` in the spec"
            elif code in ("AccessDenied", "403"):
                hint = (
                    "the state needs s3:GetObject, s3:PutObject and s3:DeleteObject on "
                    f"arn:aws:s3:::{self.bucket}/{self.prefix + '/' if self.prefix else ''}* and "
                    f"s3:ListBucket on arn:aws:s3:::{self.bucket} (the lock is released by "
                    "deleting it)"
                )
            detail = code or type(exc).__name__
            raise LlmctlError(f"cannot {op} {self.location(key)}: {detail}", hint=hint) from exc


def _s3_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def open_backend(state_url: str) -> Backend:
    """The backend for a `state:` URL: file:///abs, file://~/x, or s3://bucket/prefix[?region=]."""
    if state_url.startswith("file://"):
        raw = state_url[len("file://") :].split("?", 1)[0]
        if not raw:
            raise LlmctlError(
                f"state URL {state_url!r} has no path",
                hint="use file:///absolute/path or file://~/dir",
            )
        # Relative paths resolve against the current directory, as `pulumi login file://` does.
        return FileBackend(Path(raw).expanduser().absolute())
    if state_url.startswith("s3://"):
        parts = urlsplit(state_url)
        if not parts.netloc:
            raise LlmctlError(
                f"state URL {state_url!r} has no bucket", hint="use s3://bucket/prefix"
            )
        query = parse_qs(parts.query)
        return S3Backend(
            parts.netloc,
            parts.path.strip("/"),
            region=query.get("region", [None])[0],
            profile=query.get("profile", [None])[0],
        )
    raise LlmctlError(
        f"unsupported state backend {state_url!r}",
        hint="use file://~/.llmctl/state, file:///absolute/path or s3://bucket/prefix",
    )


def deployment_key(deployment: str, *parts: str) -> str:
    """`llmctl/<deployment>/<parts...>`, refusing names that are not DNS-1123 labels."""
    if not _NAME.match(deployment):
        raise ValueError(f"invalid deployment name {deployment!r}")
    return "/".join(("llmctl", deployment, *parts))


def read_record(backend: Backend, deployment: str, name: str) -> dict[str, Any] | None:
    """The JSON record `llmctl/<deployment>/<name>.json` (e.g. "rollout"), or None."""
    key = deployment_key(deployment, f"{name}.json")
    data = backend.read(key)
    if data is None:
        return None
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise LlmctlError(
            f"{backend.location(key)} is not valid JSON", hint="restore it or delete it"
        ) from exc
    if not isinstance(record, dict):
        raise LlmctlError(f"{backend.location(key)} is not a JSON object")
    return record


def write_record(backend: Backend, deployment: str, name: str, data: dict[str, Any]) -> None:
    """Store `data` as `llmctl/<deployment>/<name>.json`."""
    key = deployment_key(deployment, f"{name}.json")
    backend.write(key, (json.dumps(data, sort_keys=True, indent=2) + "\n").encode())


def delete_record(backend: Backend, deployment: str, name: str) -> None:
    """Remove `llmctl/<deployment>/<name>.json` if present."""
    backend.delete(deployment_key(deployment, f"{name}.json"))
