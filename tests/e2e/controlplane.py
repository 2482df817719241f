"""Real Kubernetes control planes on loopback, one per `kubernetes:` cluster of a spec.

For each cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from
their Go modules by scripts/e2e-build), and kwok, which plays the kubelet of fake nodes: one Node
per node of each pool, labelled with the pool's node selector, tainted as GPU nodes are, with
`nvidia.com/gpu` capacity = the pool's GPUs per node. The real scheduler places pods on them and
kwok marks them Running and Ready. Every process listens on 127.0.0.1 only.

The CRDs the rendered objects need are read from their projects' Go modules at pinned versions
(`go mod download`), never copied into this repository.

Run state lives in one directory (`run_dir()`): per cluster its PKI, etcd data and logs, one
kubeconfig holding a context per cluster (named as the spec names it), a PULUMI_HOME with the
built provider plugin installed, an LLMCTL_HOME for the state, and `state.json` with every pid.
`down()` stops every process it started and removes the directory.

Used by `scripts/e2e` and by tests/e2e.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "e2e-build"
KWOK_VERSION = "v0.8.0"
# CRD sources: module, version, paths of CRD files (or directories) inside the module.
CRD_MODULES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # Envoy Gateway's chart carries the Gateway API CRDs at the version it supports, and its own.
    "envoy-gateway": (
        "github.com/envoyproxy/gateway",
        "v1.9.0",
        ("charts/gateway-helm/charts/crds/crds",),
    ),
    "keda": ("github.com/kedacore/keda/v2", "v2.20.2", ("config/crd/bases",)),
    # LeaderWorkerSet: the same module scripts/e2e-build builds its controller from.
    "lws": ("sigs.k8s.io/lws", "v0.8.0", ("config/crd/bases",)),
    "prometheus-operator": (
        "github.com/prometheus-operator/prometheus-operator",
        "v0.93.0",
        (
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
        ),
    ),
}
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# LeaderWorkerSet's webhooks (config/webhook/manifests.yaml of the module), served by its
# controller on loopback: (name, path, kind, operations, rules' group and resource).
LWS_WEBHOOKS = (
    ("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset", "mutating",
     ("CREATE", "UPDATE"), "leaderworkerset.x-k8s.io", "leaderworkersets"),
    ("mpod.kb.io", "/mutate--v1-pod", "mutating", ("CREATE",), "", "pods"),
    ("vleaderworkerset.kb.io", "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
     "validating", ("CREATE", "UPDATE"), "leaderworkerset.x-k8s.io", "leaderworkersets"),
    ("vpod.kb.io", "/validate--v1-pod", "validating", ("CREATE", "UPDATE"), "", "pods"),
)  # fmt: skip
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GPU_RESOURCE = "nvidia.com/gpu"
START_TIMEOUT = 90.0  # seconds for one component to become ready


class E2EError(RuntimeError):
    """A control plane could not be brought up (the message says which part and why)."""


def run_dir() -> Path:
    """Where the running control planes keep their state ($LLMCTL_E2E_RUN overrides)."""
    default = Path(os.environ.get("TMPDIR", "/tmp")) / f"llmctl-e2e-{os.getuid()}"
    return Path(os.environ.get("LLMCTL_E2E_RUN", default))


def bin_dir() -> Path:
    """The built engines (scripts/e2e-build --print)."""
    out = subprocess.run(
        ["bash", str(BUILD), "--print"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


@dataclass
class ClusterPlane:
    """One running control plane."""

    name: str  # the spec's cluster name
    context: str  # the kubeconfig context the spec names
    dir: Path
    ports: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on 127.0.0.1."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# --- PKI ------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the apiserver's serving cert (127.0.0.1), an admin client cert, the SA key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ca.key", cwd=pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=llmctl-e2e-ca", "-days", "2",
        "-out", "ca.crt", cwd=pki,
    )  # fmt: skip
    for name, subj, ext in (
        ("apiserver", "/CN=kube-apiserver", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", f"{name}.key", cwd=pki
        )
        _openssl(
            "req", "-new", "-key", f"{name}.key", "-subj", subj, "-out", f"{name}.csr", cwd=pki
        )
        (pki / f"{name}.ext").write_text(ext + "\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=pki,
        )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def kubeconfig_entry(plane: ClusterPlane) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(cluster, user, context) entries of a kubeconfig for `plane`."""
    pki = plane.dir / "pki"
    cluster = {
        "name": plane.context,
        "cluster": {"server": plane.server, "certificate-authority": str(pki / "ca.crt")},
    }
    user = {
        "name": f"{plane.context}-admin",
        "user": {
            "client-certificate": str(pki / "admin.crt"),
            "client-key": str(pki / "admin.key"),
        },
    }
    context = {
        "name": plane.context,
        "context": {"cluster": plane.context, "user": f"{plane.context}-admin"},
    }
    return cluster, user, context


def write_kubeconfig(path: Path, planes: Sequence[ClusterPlane]) -> None:
    """One kubeconfig with a context per plane; the first is the current one."""
    entries = [kubeconfig_entry(p) for p in planes]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [e[0] for e in entries],
        "users": [e[1] for e in entries],
        "contexts": [e[2] for e in entries],
        "current-context": planes[0].context if planes else "",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


# --- processes ------------------------------------------------------------------------------


def _start(plane: ClusterPlane, name: str, argv: list[str]) -> None:
    log = open(plane.dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=plane.dir,
    )  # fmt: skip
    plane.pids[name] = proc.pid


def _wait(what: str, check: Any, plane: ClusterPlane, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        pid = plane.pids.get(log)
        if pid and not _alive(pid):
            raise E2EError(f"{what} of cluster {plane.name} exited; log:\n{_tail(plane, log)}")
        time.sleep(0.3)
    raise E2EError(
        f"{what} of cluster {plane.name} not ready in {START_TIMEOUT:.0f}s:\n{_tail(plane, log)}"
    )


def _tail(plane: ClusterPlane, log: str, lines: int = 25) -> str:
    path = plane.dir / "logs" / f"{log}.log"
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _https_ok(plane: ClusterPlane, path: str) -> bool:
    pki = plane.dir / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(plane.server + path, context=ctx, timeout=3) as resp:
        return bool(resp.status == 200)


def start_plane(plane: ClusterPlane, bins: Path) -> None:
    """etcd, kube-apiserver, controller-manager, scheduler and kwok for one cluster, ready."""
    (plane.dir / "logs").mkdir(parents=True, exist_ok=True)
    pki = plane.dir / "pki"
    make_pki(pki)
    p = plane.ports
    etcd_url = f"http://127.0.0.1:{p['etcd']}"
    peer_url = f"http://127.0.0.1:{p['etcd_peer']}"
    _start(plane, "etcd", [
        str(bins / "etcd"), "--name=default", f"--data-dir={plane.dir / 'etcd'}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}", "--listen-metrics-urls=",
        "--unsafe-no-fsync", "--log-level=warn",
    ])  # fmt: skip
    _wait(
        "etcd",
        lambda: urllib.request.urlopen(etcd_url + "/health", timeout=2).status == 200,
        plane,
        "etcd",
    )
    _start(plane, "kube-apiserver", [
        str(bins / "kube-apiserver"), f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p['apiserver']}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
        "--allow-privileged=true", "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
    ])  # fmt: skip
    _wait("kube-apiserver", lambda: _https_ok(plane, "/readyz"), plane, "kube-apiserver")
    kubeconfig = plane.dir / "admin.kubeconfig"
    write_kubeconfig(kubeconfig, [plane])
    _start(plane, "kube-controller-manager", [
        str(bins / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={p['controller_manager']}",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        "--leader-elect=false", "--use-service-account-credentials=false",
        # No cloud, no node IPAM: pod addresses come from kwok.
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
    ])  # fmt: skip
    _start(plane, "kube-scheduler", [
        str(bins / "kube-scheduler"), f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
        f"--secure-port={p['scheduler']}", "--leader-elect=false",
    ])  # fmt: skip
    stages = plane.dir / "kwok-stages.yaml"
    stages.write_text(kwok_stages())
    _start(plane, "kwok", [
        str(bins / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={stages}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
        "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16", "--node-ip=10.244.0.1",
        f"--server-address=127.0.0.1:{p['kwok']}",
    ])  # fmt: skip
    _wait("kube-scheduler", lambda: _component_up(plane, p["scheduler"]), plane, "kube-scheduler")
    _wait(
        "kube-controller-manager",
        lambda: _component_up(plane, p["controller_manager"]),
        plane,
        "kube-controller-manager",
    )


def start_lws_controller(cluster: Cluster, plane: ClusterPlane) -> None:
    """LeaderWorkerSet's controller (built by scripts/e2e-build from its Go module), out of
    cluster against this plane, with its webhooks: it serves them on 127.0.0.1 with a cert of
    the plane's CA, and the API server calls them by URL (no Service, nothing off loopback).
    Its own cert management (which needs an in-cluster Service and Secret) is off, and so are
    leader election and metrics. The pod webhooks see only LeaderWorkerSet pods (objectSelector),
    so a stopped controller never blocks other pods."""
    pki = plane.dir / "pki"
    certs = plane.dir / "lws-certs"
    certs.mkdir(exist_ok=True)
    _openssl(
        "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(certs / "tls.key"),
        cwd=pki,
    )  # fmt: skip
    _openssl(
        "req", "-new", "-key", str(certs / "tls.key"), "-subj", "/CN=lws-webhook",
        "-out", "lws.csr", cwd=pki,
    )  # fmt: skip
    (pki / "lws.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "lws.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "lws.ext", "-out", str(certs / "tls.crt"), cwd=pki,
    )  # fmt: skip
    port, health = plane.ports["lws_webhook"], plane.ports["lws_health"]
    config = plane.dir / "lws-config.yaml"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "config.lws.x-k8s.io/v1alpha1",
                "kind": "Configuration",
                "leaderElection": {"leaderElect": False},
                "internalCertManagement": {"enable": False},
                "webhook": {"host": "127.0.0.1", "port": port, "certDir": str(certs)},
                "metrics": {"bindAddress": "0"},
                "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
            }
        )
    )
    env_kubeconfig = plane.dir / "admin.kubeconfig"
    log = open(plane.dir / "logs" / "lws-controller.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [str(cluster.bins / "lws-controller"), f"--config={config}", "--zap-log-level=info"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=plane.dir, env={**os.environ, "KUBECONFIG": str(env_kubeconfig)},
    )  # fmt: skip
    plane.pids["lws-controller"] = proc.pid
    _wait(
        "lws-controller",
        lambda: (
            urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2).status == 200
        ),
        plane,
        "lws-controller",
    )
    _wait("lws-controller webhook", lambda: _port_open(port), plane, "lws-controller")
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    for kind in ("mutating", "validating"):
        hooks = []
        for name, path, hook_kind, ops, group, resource in LWS_WEBHOOKS:
            if hook_kind != kind:
                continue
            hook: dict[str, Any] = {
                "name": name,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca},
                "rules": [
                    {"apiGroups": [group], "apiVersions": ["v1"], "operations": list(ops),
                     "resources": [resource]}
                ],
            }  # fmt: skip
            if resource == "pods":
                hook["objectSelector"] = {
                    "matchExpressions": [{"key": LWS_NAME_LABEL, "operator": "Exists"}]
                }
            hooks.append(hook)
        config_kind = f"{kind.capitalize()}WebhookConfiguration"
        obj = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": config_kind,
            "metadata": {"name": f"lws-{kind}-webhook-configuration"},
            "webhooks": hooks,
        }
        cluster.kubectl(plane.name, "apply", "-f", "-", stdin=json.dumps(obj))


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def _component_up(plane: ClusterPlane, port: int) -> bool:
    ctx = ssl._create_unverified_context()  # self-signed serving cert of a loopback component
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as r:
        return bool(r.status == 200)


def module_dir(module: str, version: str) -> Path:
    """The unpacked Go module (downloaded into Go's module cache when missing)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True, capture_output=True, text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )  # fmt: skip
    return Path(json.loads(out.stdout)["Dir"])


def kwok_stages() -> str:
    """kwok's node and pod stages (standalone kwok has none by default)."""
    root = module_dir("sigs.k8s.io/kwok", KWOK_VERSION)
    return "\n---\n".join((root / s).read_text() for s in KWOK_STAGES)


def crd_files(components: Iterable[str]) -> list[Path]:
    """The CRD files of `components` (keys of CRD_MODULES), from their Go modules."""
    files: list[Path] = []
    for name in components:
        module, version, paths = CRD_MODULES[name]
        root = module_dir(module, version)
        for rel in paths:
            path = root / rel
            files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    return files


# --- cluster contents -----------------------------------------------------------------------


def kubectl(
    bins: Path, kubeconfig: Path, context: str, *args: str, stdin: str | None = None
) -> str:
    """Run the built kubectl against one context; its stdout."""
    out = subprocess.run(
        [str(bins / "kubectl"), f"--kubeconfig={kubeconfig}", f"--context={context}", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        raise E2EError(f"kubectl {' '.join(args[:3])} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout


def node_objects(cluster: Any) -> list[dict[str, Any]]:
    """One kwok Node per node of each pool of a compiled (IR) cluster, and one untainted system
    node without GPUs (for controllers such as Envoy Gateway's, as real clusters have)."""
    system = f"{cluster.name}-system-0"
    capacity = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    nodes: list[dict[str, Any]] = [{
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": system,
            "annotations": {FAKE_NODE_ANNOTATION: "fake"},
            "labels": {"kubernetes.io/hostname": system, "kubernetes.io/os": "linux",
                       "type": "kwok", "llmctl.e2e/pool": "system"},
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }]  # fmt: skip
    for pool in cluster.pools:
        for i in range(pool.max_nodes):
            name = f"{cluster.name}-{pool.name}-{i}"
            taints = [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}]
            taints += [
                {"key": t["key"], "value": t.get("value", ""), "effect": t["effect"]}
                for t in pool.taints
                if t.get("key") != GPU_RESOURCE
            ]
            capacity = {
                "cpu": "192", "memory": "2Ti", "pods": "110", "ephemeral-storage": "10Ti",
                GPU_RESOURCE: str(pool.gpus_per_node),
            }  # fmt: skip
            nodes.append({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                    "labels": {
                        **pool.node_selector,
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "type": "kwok",
                        "llmctl.e2e/pool": pool.key.replace("/", "."),
                    },
                },
                "spec": {"taints": taints},
                "status": {"capacity": capacity, "allocatable": capacity},
            })  # fmt: skip
    return nodes


@dataclass
class Cluster:
    """What `up()` started: the planes and the environment that reaches them."""

    planes: list[ClusterPlane]
    env: dict[str, str]
    run: Path
    bins: Path

    def kubectl(self, cluster: str, *args: str, stdin: str | None = None) -> str:
        plane = next(p for p in self.planes if p.name == cluster)
        return kubectl(self.bins, Path(self.env["KUBECONFIG"]), plane.context, *args, stdin=stdin)

    def get(self, cluster: str, *args: str) -> Any:
        """`kubectl get ... -o json` as data."""
        return json.loads(self.kubectl(cluster, "get", *args, "-o", "json"))


def up(spec: str | Path, crds: Sequence[str] = tuple(CRD_MODULES)) -> Cluster:
    """Start a control plane per kubernetes cluster of `spec` (stopping earlier ones first)."""
    from llmctl.compile import compile_file

    deployment = compile_file(spec).deployment
    clusters = [c for c in deployment.clusters if c.provider == "kubernetes"]
    if not clusters:
        raise E2EError(f"{spec} has no `kubernetes:` cluster; scripts/e2e serves only those")
    for c in clusters:
        if c.kubeconfig:
            raise E2EError(
                f"cluster {c.name} names kubeconfig {c.kubeconfig}; scripts/e2e writes its own "
                "kubeconfig (exported as KUBECONFIG): remove `kubeconfig:` from the spec to use it"
            )
    down()
    bins = bin_dir()
    missing = [
        b
        for b in ("etcd", "kube-apiserver", "kwok", "pulumi", "kubectl")
        if not (bins / b).exists()
    ]
    if missing:
        raise E2EError(f"not built: {', '.join(missing)}; run scripts/e2e-build first")
    run = run_dir()
    run.mkdir(parents=True, mode=0o700)
    planes: list[ClusterPlane] = []
    names = (
        "etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok",
        "lws_webhook", "lws_health",
    )  # fmt: skip
    ports = free_ports(len(names) * len(clusters))
    for i, c in enumerate(clusters):
        plane = ClusterPlane(
            name=c.name,
            context=c.context or c.name,
            dir=run / c.name,
            ports=dict(zip(names, ports[i * len(names) : (i + 1) * len(names)], strict=True)),
        )
        planes.append(plane)
        _save(run, planes)
        start_plane(plane, bins)
        _save(run, planes)
    kubeconfig = run / "kubeconfig"
    write_kubeconfig(kubeconfig, planes)
    env = environment(run, bins, kubeconfig)
    cluster = Cluster(planes, env, run, bins)
    crd_paths = crd_files(crds)
    for plane, c in zip(planes, clusters, strict=True):
        nodes = node_objects(c)
        plane.nodes = [n["metadata"]["name"] for n in nodes]
        cluster.kubectl(
            plane.name,
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}),
        )
        for path in crd_paths:
            cluster.kubectl(plane.name, "apply", "--server-side", "-f", str(path))
        if "lws" in crds and (bins / "lws-controller").exists():
            start_lws_controller(cluster, plane)
            _save(run, planes)
        _wait_nodes_ready(cluster, plane)
    _save(run, planes, env)
    _install_plugin(env, bins)
    return cluster


def environment(run: Path, bins: Path, kubeconfig: Path) -> dict[str, str]:
    """What `llmctl` needs to reach the planes with the built engines, and nothing else."""
    home = run / "pulumi-home"
    return {
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{bins}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The built provider sits on PATH beside pulumi; use the one installed (versioned) in
        # PULUMI_HOME, not the "ambient" one Pulumi would take from PATH without a version check.
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "LLMCTL_HOME": str(run / "llmctl-home"),
        # The e2e installs the CRDs itself and runs no Envoy Gateway or KEDA controller, and the
        # LeaderWorkerSet controller out of cluster: those components count as already
        # installed, as on a cluster whose platform team runs them.
        "LLMCTL_ADDONS": "envoy-gateway=existing,keda=existing,lws=existing",
    }


def _install_plugin(env: dict[str, str], bins: Path) -> None:
    """Install the built Kubernetes provider into the run's PULUMI_HOME, at its own version."""
    # The provider answers no --version: scripts/e2e-build records the version it built.
    version = (bins / "pulumi-resource-kubernetes.version").read_text().strip()
    subprocess.run(
        [str(bins / "pulumi"), "plugin", "install", "resource", "kubernetes", version.lstrip("v"),
         "--file", str(bins / "pulumi-resource-kubernetes")],
        check=True, capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip


def _wait_nodes_ready(cluster: Cluster, plane: ClusterPlane) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        items = cluster.get(plane.name, "nodes")["items"]
        ready = [
            n for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        ]  # fmt: skip
        if len(ready) == len(plane.nodes):
            return
        time.sleep(0.5)
    raise E2EError(f"kwok nodes of cluster {plane.name} not Ready:\n{_tail(plane, 'kwok')}")


def _save(run: Path, planes: Sequence[ClusterPlane], env: dict[str, str] | None = None) -> None:
    state = {
        "planes": [
            {"name": p.name, "context": p.context, "dir": str(p.dir), "ports": p.ports,
             "pids": p.pids, "nodes": p.nodes}
            for p in planes
        ],
        "env": env or {},
    }  # fmt: skip
    (run / "state.json").write_text(json.dumps(state, indent=2))


def load() -> Cluster | None:
    """The running planes recorded in the run directory, or None."""
    run = run_dir()
    try:
        state = json.loads((run / "state.json").read_text())
    except (OSError, ValueError):
        return None
    planes = [
        ClusterPlane(p["name"], p["context"], Path(p["dir"]), p["ports"], p["pids"], p["nodes"])
        for p in state["planes"]
    ]
    env = state.get("env") or {}
    bins = Path(env["PATH"].split(":")[0]) if env else bin_dir()
    return Cluster(planes, env, run, bins)


def pids() -> list[int]:
    """Every pid the running planes recorded."""
    cluster = load()
    return [pid for p in cluster.planes for pid in p.pids.values()] if cluster else []


def down() -> None:
    """Stop everything `up()` started and remove the run directory."""
    run = run_dir()
    cluster = load()
    if cluster is not None:
        for plane in reversed(cluster.planes):
            for name in (
                "lws-controller",
                "kwok",
                "kube-scheduler",
                "kube-controller-manager",
                "kube-apiserver",
                "etcd",
            ):
                pid = plane.pids.get(name)
                if pid and _alive(pid) and _owned(pid, run):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in (pid for p in cluster.planes for pid in p.pids.values()):
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid) and _owned(pid, run):
                os.kill(pid, signal.SIGKILL)
    if run.exists():
        shutil.rmtree(run, ignore_errors=True)


def _owned(pid: int, run: Path) -> bool:
    """Whether `pid` is still one of ours (pids are reused): its working directory is in `run`."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(run)
    except OSError:
        return False


def exports(cluster: Cluster) -> str:
    """`export` lines for a shell's eval."""
    import shlex

    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in cluster.env.items())


def main(argv: Sequence[str]) -> int:
    """`up -f SPEC` | `down` | `env` (the exports of the running planes)."""
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/e2e")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a control plane per kubernetes cluster of SPEC")
    p_up.add_argument("-f", "--file", default="llm.yaml")
    sub.add_parser("down", help="stop everything `up` started and remove its data")
    sub.add_parser("env", help="print the export lines of the running control planes")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            cluster = up(args.file)
            for plane in cluster.planes:
                print(
                    f"# e2e: cluster {plane.name}: context {plane.context}, {plane.server}, "
                    f"{len(plane.nodes)} kwok nodes",
                    file=sys.stderr,
                )
            print(exports(cluster), end="")
        elif args.command == "down":
            down()
            print("# e2e: stopped; run directory removed", file=sys.stderr)
        else:
            cluster = load()
            if cluster is None:
                print("# e2e: nothing is running (scripts/e2e up -f SPEC)", file=sys.stderr)
                return 1
            print(exports(cluster), end="")
    except E2EError as exc:
        print(f"e2e: {exc}", file=sys.stderr)
        return 1
    except Exception:
        if args.command == "up":
            down()
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
