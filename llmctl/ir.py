"""The Deployment IR: what COMPILE produces, and what is stored, diffed, rendered and rolled back to.

Frozen, versioned (`schema_version`) and JSON-serialisable; the same spec always gives the same
bytes (`Deployment.to_json()`). Everything here is resolved: no defaults left to apply, no catalog
look-ups left to do.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1

Provider = Literal["aws", "kubernetes"]
Traffic = Literal["active", "overflow", "failover"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PoolIR(_Frozen):
    """A GPU pool, resolved against the catalog."""

    key: str  # "cluster/pool"
    cluster: str
    name: str
    provider: Provider
    gpu_model: str  # catalog GPU name, e.g. "L40S"
    gpu_memory_gib: float
    gpus_per_node: int
    min_nodes: int  # on-prem pools: == max_nodes == nodes
    max_nodes: int
    instance_type: str | None = None  # aws only
    capacity: tuple[str, ...] = ("on-demand",)  # preference order: spot | on-demand
    disk_gb: int = 200
    node_selector: dict[str, str] = {}  # how pods land on the pool
    node_labels: dict[str, str] = {}  # labels llmctl puts on the nodes (aws)
    taints: tuple[dict[str, str], ...] = ()  # {"key","value","effect"}
    node_hour_usd: float | None = None  # on-demand price of one node (aws) or gpus x gpu_hour_usd
    spot_node_hour_usd: float | None = None  # bundled estimate, when known
    # One node's vCPUs and memory (the catalog's, for an instance type); None: unknown (on-prem)
    node_vcpus: int | None = None
    node_memory_gib: float | None = None
    efa_per_node: int = 0  # EFA interfaces of the instance type (aws p4d, p5, p5e, p5en)

    @property
    def max_gpus(self) -> int:
        """GPUs of the pool at its largest."""
        return self.max_nodes * self.gpus_per_node


class AddonIR(_Frozen):
    """A component installed into a cluster with Helm, resolved from the spec and LLMCTL_ADDONS."""

    name: str  # envoy-gateway | keda | nvidia-device-plugin | cluster-autoscaler
    install: bool = True
    chart: str | None = None  # a local path (absolute) or a mirror; None: the pinned chart
    version: str | None = None
    set_by: str = ""  # "" (default), "spec" or "LLMCTL_ADDONS"

    def describe(self) -> str:
        """One line for the plan: what is installed, from where, and who said so."""
        what = (
            "not installed (the cluster runs it)"
            if not self.install
            else f"chart from {self.chart}" + (f" {self.version}" if self.version else "")
            if self.chart
            else "the pinned public chart"
        )
        return f"{self.name}: {what}" + (f" (set by {self.set_by})" if self.set_by else "")


class ClusterIR(_Frozen):
    """A cluster: an existing Kubernetes cluster or an EKS cluster llmctl creates or adopts."""

    name: str
    provider: Provider
    namespace: str
    context: str | None = None  # kubeconfig context (kubernetes)
    kubeconfig: str | None = None
    region: str | None = None  # aws
    create: bool = False  # aws: llmctl creates the EKS cluster
    existing: str | None = None  # aws: adopt this EKS cluster
    version: str | None = None  # aws: Kubernetes version
    pools: tuple[PoolIR, ...] = ()
    addons: tuple[AddonIR, ...] = ()
    # The Prometheus this cluster's KEDA scalers query (its own `monitoring`, else the top-level
    # one); None: no scaler can run here.
    prometheus_url: str | None = None
    # aws, created: llmctl installs a Prometheus (kube-prometheus-stack) into the cluster.
    install_prometheus: bool = False
    compile_cache_class: str | None = None  # RWX StorageClass of llmctl's shared cache claim
    compile_cache_gib: int = 0

    def addon(self, name: str) -> AddonIR:
        """The addon `name` (the default when the IR holds none)."""
        return next((a for a in self.addons if a.name == name), AddonIR(name=name))


class ArchitectureIR(_Frozen):
    params_b: float
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    from_catalog: bool = False


class EngineIR(_Frozen):
    """vLLM settings, resolved; `flags` is the argv after `vllm serve` (model first) for the pinned version."""

    vllm_version: str
    image: str  # upstream image, e.g. vllm/vllm-openai:v0.33.0 (the bundled image's base)
    # upstream: `image` runs as is, the launcher comes from the ConfigMap; bundled: llmctl's
    # own image (REPOSITORY:content tag), built and pushed with `llmctl image build`.
    image_kind: Literal["upstream", "bundled"] = "bundled"
    compile_cache_claim: str | None = None  # RWX claim for compile caches; None: pod volume
    max_model_len: int
    dtype: str
    quantization: str | None
    kv_cache_dtype: str
    gpu_memory_utilization: float
    max_num_seqs: int
    extra_args: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    # Room per replica, for a gateway that spills excess to another cluster (compile/overflow.py):
    # a replica answers /llmctl/room with 503 from this many requests in flight, or this many
    # waiting in vLLM's queue. None: not served behind a spilling route (no middleware).
    room_max_in_flight: int | None = None
    room_max_waiting: int | None = None


class PlacementIR(_Frozen):
    pool: str  # "cluster/pool"
    cluster: str
    min_replicas: int
    max_replicas: int
    traffic: Traffic = "active"
    # traffic: overflow: hours a month expected at max replicas (cost's expected scenario).
    overflow_hours_per_month: float = 0.0
    # Replicas a plain rolling update (a rollback, an apply that is no rollout) may start beside
    # the running ones: 1 when the pool has room for one more at every placement's maximum,
    # else 0, and pods are replaced one at a time (a surge pod there would never schedule).
    update_surge: int = 1
    # The most replicas the model's rollout runs beside this placement's at once (its canary at
    # the largest partial step, or a blue-green set): what validate checks room for, cost prices
    # and the rollout driver runs. Decided by `llmctl.room.rollout_surge`.
    rollout_surge: int = 0


class AutoscalingIR(_Frozen):
    metric: Literal["requests_waiting", "kv_cache_usage", "ttft_p95"]
    target: float


class AnalysisIR(_Frozen):
    max_error_rate: float
    max_ttft_p95_seconds: float
    min_requests: int


class RolloutIR(_Frozen):
    strategy: Literal["canary", "blue-green", "rolling"]
    steps: tuple[int, ...]
    interval_seconds: int
    analysis: AnalysisIR


class SizingIR(_Frozen):
    """The GPU-fit arithmetic, per replica and per GPU, in GiB."""

    weights_gib: float  # all weights of one replica
    kv_cache_gib: float  # one max_model_len sequence, whole replica
    activation_reserve_gib: float  # per GPU
    needed_per_gpu_gib: float
    usable_per_gpu_gib: float  # gpu_memory_utilization x GPU memory
    gpus_derived: bool


class TimingIR(_Frozen):
    """Probe and shutdown timings, shared by the Deployment and the launcher."""

    startup_budget_seconds: int  # weights load + graph capture, scaled to the weight size
    pre_stop_seconds: int
    shutdown_timeout_seconds: int  # vLLM drains this long after SIGTERM (--shutdown-timeout)
    kill_after_seconds: int = 0  # launcher SIGKILLs vLLM this long after SIGTERM; > shutdown
    termination_grace_seconds: int  # > pre_stop + kill_after > pre_stop + shutdown_timeout


class GroupIR(_Frozen):
    """A multi-node replica: one LeaderWorkerSet group of `size` pods, one pod per node, each
    with all of its node's GPUs. Tensor parallel within a node, pipeline parallel across nodes;
    vLLM's own multi-node mode (multiprocessing executor, no Ray)."""

    size: int  # pods (= nodes) per replica, the leader included
    tensor_parallel: int  # GPUs per pod (a node's GPUs)
    pipeline_parallel: int  # stages, one per node
    executor: Literal["mp"] = "mp"  # --distributed-executor-backend
    master_port: int  # torch.distributed rendezvous on the leader (--master-port)
    lws_api_version: str  # the LeaderWorkerSet API the group is rendered with


class ModelIR(_Frozen):
    name: str
    served_name: str
    served_aliases: tuple[str, ...] = ()  # gateway route names that send to this model
    source: str  # hf://org/repo, s3://bucket/prefix or pvc://claim/path
    source_scheme: Literal["hf", "s3", "pvc"]
    revision: str | None
    architecture: ArchitectureIR
    engine: EngineIR
    gpus: int  # per replica (tensor parallel x nodes)
    tensor_parallel: int  # GPUs per node of a replica
    nodes_per_replica: int  # > 1: multi-node replica (pipeline parallel across nodes)
    group: GroupIR | None = None  # set exactly when nodes_per_replica > 1
    placements: tuple[PlacementIR, ...]
    autoscaling: AutoscalingIR | None = None
    rollout: RolloutIR
    sizing: SizingIR
    timing: TimingIR
    hf_token_secret: str | None = None  # Kubernetes Secret holding HF_TOKEN, for gated repos

    def identity(self) -> str:
        """Hash of what makes a replica serve differently; a change goes through `rollout`."""
        # The room middleware (compile/overflow.py) changes how a replica reports load, not what
        # it answers: adding or dropping a peer cluster is a plain update of the pods, not a
        # rollout, and identities from before the room existed stay the same.
        engine = self.engine.model_dump(
            mode="json", exclude={"room_max_in_flight", "room_max_waiting"}
        )
        flags = list(engine["flags"])
        if "--middleware" in flags:
            at = flags.index("--middleware")
            del flags[at : at + 2]
        engine["flags"] = flags
        ident = {
            "source": self.source,
            "revision": self.revision,
            "engine": engine,
            "gpus": self.gpus,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


class RouteIR(_Frozen):
    name: str  # what clients send as "model": an API model id, e.g. org/Model-7B
    backends: tuple[tuple[str, int], ...]  # (model, weight)
    # DNS label the route's object names derive from: the route's own name, or for a default
    # route its model's `name` (never the served name, which may hold '/', '.' or capitals).
    key: str = ""
    fallback: tuple[str, ...] = ()


class PeerIR(_Frozen):
    """A cluster's gateway sends a route's excess to another cluster's gateway (overflow by load,
    failover of failing replicas, a fallback model placed only there): compile/overflow.py."""

    cluster: str  # the cluster whose gateway spills
    peer: str  # the cluster whose gateway takes the excess
    address: str  # the peer gateway's DNS name, "<peer>.<hostname>" (the -dns stack's record)
    routes: tuple[str, ...]  # names of the routes that spill there
    # Requests the peer may have in flight from here: its placements' max replicas x room.
    max_in_flight: int = 0


class GatewayIR(_Frozen):
    hostname: str | None = None
    dns_zone: str | None = None
    api_keys_secret_env: str | None = None
    requests_per_minute: int | None = None
    routes: tuple[RouteIR, ...] = ()
    peers: tuple[PeerIR, ...] = ()

    def peers_of(self, cluster: str) -> list[PeerIR]:
        """The peers `cluster`'s gateway spills to."""
        return [p for p in self.peers if p.cluster == cluster]

    def spills_to(self, cluster: str) -> list[PeerIR]:
        """The peers that spill into `cluster`'s gateway."""
        return [p for p in self.peers if p.peer == cluster]


class BudgetIR(_Frozen):
    monthly_usd: float
    on_exceed: Literal["block", "warn"]


class Deployment(_Frozen):
    """The compiled deployment: the root of the IR."""

    schema_version: int = SCHEMA_VERSION
    llmctl_version: str
    name: str
    state: str | None = (
        None  # backend URL as written (file://... or s3://...); None: $LLMCTL_HOME/state
    )
    labels: dict[str, str] = {}
    clusters: tuple[ClusterIR, ...]
    models: tuple[ModelIR, ...]
    gateway: GatewayIR
    prometheus_url: str | None = None
    budget: BudgetIR | None = None

    def to_json(self) -> str:
        """Canonical JSON: same deployment, same bytes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        """Load a stored IR; refuses a schema version this llmctl does not know."""
        data = json.loads(text)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            from llmctl.errors import LlmctlError

            raise LlmctlError(
                f"stored IR has schema_version {version}; this llmctl reads {SCHEMA_VERSION}",
                hint="upgrade llmctl to the version that wrote this revision",
            )
        return cls.model_validate(data)

    def cluster(self, name: str) -> ClusterIR:
        """The cluster called `name`."""
        return next(c for c in self.clusters if c.name == name)

    def pool(self, key: str) -> PoolIR:
        """The pool with key "cluster/pool"."""
        cluster, _, pool = key.partition("/")
        return next(p for p in self.cluster(cluster).pools if p.name == pool)

    def models_on(self, cluster: str) -> list[tuple[ModelIR, PlacementIR]]:
        """Every (model, placement) that runs on `cluster`, in spec order."""
        return [(m, p) for m in self.models for p in m.placements if p.cluster == cluster]
