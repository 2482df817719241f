"""The e2e suite: plain `llmctl` commands against real engines (scripts/e2e).

The Pulumi CLI and the Kubernetes provider are the real ones, built from their Go modules; each
module of tests gets its own control planes (kube-apiserver, controller-manager, scheduler, etcd,
kwok GPU nodes) from `controlplane.up(spec)`, and `llmctl` runs as a user runs it: a subprocess
with the environment `scripts/e2e up` exports, nothing else. A watcher samples every socket of
this process tree and of the control planes while the tests run: a connection or a listener
beyond loopback fails the module.

Collected only through `scripts/e2e test` (LLMCTL_E2E=1); without built engines the tests skip,
or fail when LLMCTL_REQUIRE_E2E is set (CI).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e import controlplane

REPO = controlplane.REPO
LLMCTL = [str(Path(sys.executable).parent / "llmctl")]  # the console script, as users run it
COMMAND_TIMEOUT = 420  # seconds for one llmctl command


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def engines() -> Path:
    """The built engines' directory; skip (or fail under LLMCTL_REQUIRE_E2E) when missing."""
    bins = controlplane.bin_dir()
    missing = [
        b
        for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                  "kubectl", "pulumi", "pulumi-resource-kubernetes")
        if not (bins / b).exists()
    ]  # fmt: skip
    if missing:
        reason = f"engines not built ({', '.join(missing)}): run scripts/e2e build"
        if os.environ.get("LLMCTL_REQUIRE_E2E", "") not in ("", "0"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the control planes' certificates", pytrace=False)
    return bins


@dataclass
class Run:
    """One finished llmctl command."""

    args: Sequence[str]
    code: int
    out: str
    err: str


@dataclass
class Env:
    """The control planes of one spec and how to run llmctl against them."""

    cluster: controlplane.Cluster
    spec: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "LLMCTL_"))}
        env.update(self.cluster.env)
        env.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(REPO)})
        env.update(self.extra)
        return env

    def llmctl(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Run:
        """`llmctl ARGS` as a subprocess, as a user runs it."""
        proc = subprocess.run(
            [*LLMCTL, *args], env=self.environ, cwd=REPO, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return Run(args, proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`llmctl ARGS` started in the background (for concurrency and Ctrl-C tests)."""
        return subprocess.Popen(
            [*LLMCTL, *args], env=self.environ, cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def get(self, cluster: str, *args: str) -> dict:
        return self.cluster.get(cluster, *args)  # type: ignore[no-any-return]


def bring_up(spec: Path) -> Iterator[controlplane.Cluster]:
    """Control planes for `spec` for the length of a module; stopped and removed after."""
    cluster = controlplane.up(spec)
    try:
        yield cluster
    finally:
        controlplane.down()


# --- network discipline ---------------------------------------------------------------------


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo.extend(children.get(pid, []))
    return out


def _socket_inodes(pids: set[int]) -> dict[str, int]:
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    return inodes


def _addr(hex_addr: str) -> tuple[ipaddress._BaseAddress, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip: ipaddress._BaseAddress = ipaddress.IPv4Address(raw[::-1])
    else:  # four little-endian 32-bit words
        ip = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(port, 16)


def offending_sockets(pids: set[int]) -> list[str]:
    """Sockets of `pids` that reach or listen beyond loopback, described."""
    inodes = _socket_inodes(pids)
    bad = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
            if inode not in inodes:
                continue
            lip, lport = _addr(local)
            rip, rport = _addr(remote)
            if state == "0A":  # LISTEN
                if not lip.is_loopback:
                    bad.append(f"pid {inodes[inode]} listens on {lip}:{lport}")
            elif not rip.is_loopback and not rip.is_unspecified:
                bad.append(f"pid {inodes[inode]} connected to {rip}:{rport}")
    return bad


class NetworkWatch:
    """Samples the sockets of this process tree and the control planes in a thread."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.seen: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(os.getpid())
            for pid in controlplane.pids():
                pids |= _descendants(pid)
            for line in offending_sockets(pids):
                if line not in self.seen:
                    self.seen.append(line)
            self.samples += 1
            time.sleep(self.interval)

    def __enter__(self) -> NetworkWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[NetworkWatch]:
    """Every module runs under the watch; anything beyond loopback fails it."""
    with NetworkWatch() as watch:
        yield watch
    assert watch.samples > 0
    assert watch.seen == [], f"traffic beyond loopback: {watch.seen}"
