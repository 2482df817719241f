"""The llm.yaml model, version 1 (../shared/design/SPEC.md). Field descriptions are the reference
docs: `llmctl schema` prints them as JSON Schema.

Structure and types only; rules that need the whole spec or the catalog live in rules.py so that
every error of a file is found in one pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION = r"^\d+(s|m|h)$"
# Sane maxima: a spec is input to an offline plan in CI, and a number far beyond any real
# deployment must be a located error, not hours of work or gigabytes of memory.
MAX_REPLICAS = 1000  # per placement
MAX_NODES = 10_000  # per pool
MAX_GPUS_PER_REPLICA = 1024
MAX_USD = 1e9
# An API model id as clients send it (vLLM's default is the Hugging Face repo, slash included).
SERVED_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:-]*(/[A-Za-z0-9][A-Za-z0-9._:-]*)*$"

Name = Annotated[
    str,
    Field(
        pattern=DNS_LABEL,
        max_length=63,
        description="A DNS-1123 label: lowercase letters, digits and '-'.",
    ),
]


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are YAML floats, never a sane price or threshold.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class KubernetesTarget(_Strict):
    """An existing Kubernetes cluster, on-prem or anywhere, reached through a kubeconfig."""

    context: str | None = Field(None, description="kubeconfig context; default: the current one.")
    kubeconfig: str | None = Field(
        None, description="Path of the kubeconfig; default: ~/.kube/config or $KUBECONFIG."
    )
    namespace: Name | None = Field(
        None, description="Namespace for everything llmctl deploys; default: the spec's name."
    )


class AwsClusterRef(_Strict):
    """Create an EKS cluster (`create: true`) or adopt an existing one (`existing: NAME`)."""

    create: bool = Field(
        False, description="llmctl creates the EKS cluster, its VPC and IAM roles."
    )
    existing: str | None = Field(None, description="Name of an existing EKS cluster to adopt.")
    version: str = Field(
        "1.33", pattern=r"^1\.\d+$", description="Kubernetes version of a created cluster."
    )


class AwsTarget(_Strict):
    """An EKS cluster that llmctl provisions or adopts; its pools become EKS managed node groups."""

    region: str = Field(description="AWS region, e.g. us-east-1; checked against the catalog.")
    cluster: AwsClusterRef = Field(
        default_factory=lambda: AwsClusterRef(create=True), description="Create or adopt."
    )
    namespace: Name | None = Field(
        None, description="Namespace for the serving objects; default: the spec's name."
    )


class GpuSpec(_Strict):
    model: str = Field(description="GPU model from the catalog, e.g. A100-80GB, L40S, H100-80GB.")
    per_node: int = Field(ge=1, le=16, description="GPUs on each node of the pool.")


Capacity = Literal["spot", "on-demand"]


class Pool(_Strict):
    """GPU capacity: nodes of an existing cluster (kubernetes) or a managed node group (aws)."""

    name: Name = Field(
        description="Pool name, unique within its cluster; placements say cluster/pool."
    )
    # existing clusters
    node_selector: dict[str, str] | None = Field(
        None, description="(kubernetes) labels that select the pool's nodes."
    )
    gpu: GpuSpec | None = Field(None, description="(kubernetes) the GPUs of each node.")
    nodes: int | None = Field(
        None, ge=1, le=MAX_NODES, description="(kubernetes) how many such nodes the pool may use."
    )
    gpu_hour_usd: float | None = Field(
        None,
        ge=0,
        le=1000,
        description="(kubernetes) amortized cost of one GPU-hour; needed for cost reports.",
    )
    # aws
    instance_type: str | None = Field(
        None, description="(aws) EC2 instance type; GPU model and count come from the catalog."
    )
    capacity: list[Capacity] | None = Field(
        None,
        description="(aws) spot or on-demand, or a list = preference order with fallback. Default on-demand.",
    )
    min_nodes: int | None = Field(
        None, ge=0, le=MAX_NODES, description="(aws) smallest node count; default 0."
    )
    max_nodes: int | None = Field(
        None, ge=1, le=MAX_NODES, description="(aws) largest node count; default 1."
    )
    disk_gb: int = Field(200, ge=20, le=16384, description="(aws) root volume per node, GiB.")

    @field_validator("capacity", mode="before")
    @classmethod
    def _one_or_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Addon(_Strict):
    """A component llmctl installs into a cluster with Helm, and where its chart comes from."""

    install: bool = Field(
        True,
        description="false: the cluster already runs this component (its platform team or a "
        "GitOps tool installed it); llmctl installs nothing for it and the plan says so.",
    )
    chart: str | None = Field(
        None,
        description="Where the Helm chart comes from instead of its public registry: a local "
        "chart directory or .tgz (relative to this file), an oci:// reference or the https:// "
        "URL of a chart repository mirror. Default: the pinned public chart.",
    )
    version: str | None = Field(
        None, description="Chart version, for a mirror; default: the version llmctl pins."
    )


class Addons(_Strict):
    """The components llmctl installs into a cluster. LLMCTL_ADDONS overrides them for one run
    (`envoy-gateway=existing,keda=./charts/keda`)."""

    envoy_gateway: Addon = Field(
        default_factory=Addon,
        description="Envoy Gateway (the Gateway API and gateway.envoyproxy.io CRDs, the gateway).",
    )
    keda: Addon = Field(
        default_factory=Addon, description="KEDA, for placements that scale from zero."
    )
    lws: Addon = Field(
        default_factory=Addon,
        description="LeaderWorkerSet (sigs.k8s.io/lws), for models whose replicas span nodes.",
    )
    nvidia_device_plugin: Addon = Field(
        default_factory=Addon, description="(aws) the NVIDIA device plugin."
    )
    cluster_autoscaler: Addon = Field(
        default_factory=Addon, description="(aws) the cluster autoscaler."
    )
    kube_prometheus_stack: Addon = Field(
        default_factory=Addon,
        description="(aws) prometheus-operator and a Prometheus, on a created cluster whose "
        "`monitoring.install_prometheus` is on (the default when a model there needs one).",
    )
    efa_device_plugin: Addon = Field(
        default_factory=Addon,
        description="(aws) the EFA device plugin, for multi-node models on EFA instance types.",
    )


class ClusterMonitoring(_Strict):
    """Where this cluster's metrics live, when not the deployment's `monitoring`."""

    prometheus_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The Prometheus this cluster's KEDA scalers query (the queue an overflow "
        "placement scales on); it must be reachable from this cluster. Default: the top-level "
        "monitoring.prometheus_url. A cloud cluster that scales on the on-prem queue names a URL "
        "of the on-prem Prometheus that it can reach (an ingress, a VPN address), never an "
        "in-cluster name such as http://prometheus.monitoring:9090.",
    )
    install_prometheus: bool | None = Field(
        None,
        description="(aws, `create: true`) install a Prometheus (prometheus-operator, "
        "kube-prometheus-stack) so that the ServiceMonitor, KEDA and rollout analysis have "
        "something to read. Default: true when a model placed there has a canary or blue-green "
        "rollout, autoscaling or a scale-from-zero placement.",
    )


class CompileCacheStorage(_Strict):
    """A shared compile cache: a ReadWriteMany claim llmctl creates in the cluster's namespace."""

    storage_class: Name = Field(
        description="A StorageClass of the cluster that provisions ReadWriteMany volumes "
        "(NFS, CephFS, EFS, Filestore, Azure Files...)."
    )
    size_gib: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Size of the claim (about 50-100 MiB per model, "
        "vLLM version and GPU type measured; room for many).",
    )


class Cluster(_Strict):
    """Where models run: exactly one of `kubernetes` (existing) or `aws` (EKS)."""

    name: Name = Field(description="Cluster name, unique; placements say cluster/pool.")
    kubernetes: KubernetesTarget | None = Field(None, description="An existing cluster.")
    aws: AwsTarget | None = Field(None, description="An EKS cluster llmctl provisions or adopts.")
    pools: list[Pool] = Field(min_length=1, description="GPU pools of this cluster.")
    addons: Addons = Field(
        default_factory=Addons,
        description="Components llmctl installs into the cluster: skip one the cluster already "
        "runs, or take its chart from a local directory or a mirror.",
    )
    monitoring: ClusterMonitoring | None = Field(
        None,
        description="This cluster's Prometheus, when not the top-level `monitoring` (the "
        "default for every cluster).",
    )
    compile_cache: CompileCacheStorage | None = Field(
        None,
        description="vLLM's compile and kernel caches on one ReadWriteMany claim that llmctl "
        "creates, shared by every serving pod of this cluster, so only the first pod of a model, "
        "vLLM version and GPU type compiles cold. Default: each pod's own volume (every new pod "
        "compiles cold).",
    )


class Architecture(_Strict):
    """Model shape for sizing; optional for models in the bundled catalog."""

    params_b: float = Field(
        gt=0, le=100_000, description="Parameters, in billions (total, for MoE)."
    )
    layers: int = Field(ge=1, le=10_000, description="Transformer layers (num_hidden_layers).")
    heads: int = Field(ge=1, le=10_000, description="Attention heads (num_attention_heads).")
    kv_heads: int = Field(ge=1, le=10_000, description="Key/value heads (num_key_value_heads).")
    head_dim: int = Field(ge=1, le=100_000, description="Dimension of one head.")


class Engine(_Strict):
    """vLLM settings; every field optional."""

    vllm_version: str = Field(
        "0.33.0",
        description="Pinned vLLM version, the newest patch of a minor from 0.10 to 0.33 (also "
        "0.9.2 and 0.11.0): selects the image and the flag table generated from its wheel.",
    )
    image: Literal["upstream", "bundled"] = Field(
        "upstream",
        description="upstream: vllm/vllm-openai:v<version> as published, the launcher delivered "
        "by the serving ConfigMap; nothing to build. bundled: llmctl's own image (`llmctl image "
        "build`), for private registries and air gaps.",
    )
    shutdown_timeout_seconds: int = Field(
        120,
        ge=0,
        le=3600,
        description="On SIGTERM, in-flight requests get this long to finish (vLLM >= 0.18 "
        "drains; older versions abort them).",
    )
    compile_cache: str | None = Field(
        None,
        pattern=r"^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="pvc://CLAIM: an existing ReadWriteMany claim that keeps vLLM's compile and "
        "kernel caches for every replica (a replacement pod starts warm). Default: a volume of "
        "the pod, kept across container restarts.",
    )
    max_model_len: int | None = Field(
        None,
        ge=128,
        le=100_000_000,
        description="Longest sequence; default min(8192, the model's context).",
    )
    dtype: Literal["auto", "bfloat16", "float16"] = Field(
        "auto", description="Weight and activation dtype."
    )
    quantization: Literal["none", "fp8", "awq", "gptq"] = Field(
        "none", description="Weight quantization."
    )
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="KV cache dtype.")
    gpu_memory_utilization: float = Field(
        0.90, gt=0.1, le=0.98, description="Share of GPU memory vLLM may use."
    )
    max_num_seqs: int = Field(256, ge=1, le=4096, description="Most sequences batched at once.")
    extra_args: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Passed to `vllm serve` verbatim, after llmctl's own flags.",
    )


class ReplicaRange(_Strict):
    min: int = Field(ge=0, le=MAX_REPLICAS, description="Fewest replicas.")
    max: int = Field(ge=1, le=MAX_REPLICAS, description="Most replicas.")


class Placement(_Strict):
    """Where a model's replicas run, and their traffic role."""

    pool: str = Field(pattern=r"^[^/]+/[^/]+$", description="cluster/pool.")
    replicas: int | ReplicaRange = Field(
        1, description="A fixed count, or {min, max} for autoscaling."
    )
    traffic: Literal["active", "overflow", "failover"] = Field(
        "active",
        description="active: always serves; overflow: takes load past the active placements; failover: only when they are down.",
    )
    overflow_hours_per_month: float | None = Field(
        None,
        ge=0,
        le=730,
        description="(traffic: overflow) hours a month this placement is expected to run at its "
        "max replicas (bursts past the active placements' room); the plan's expected cost counts "
        "them. Default 0: an overflow placement starts only when the active ones are full and "
        "scales back to its min after 10 quiet minutes.",
    )

    @field_validator("replicas", mode="before")
    @classmethod
    def _replicas_shape(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, dict)):
            raise ValueError("replicas must be a whole number or {min: N, max: M}")
        if isinstance(v, int) and v < 0:
            raise ValueError("replicas must be 0 or more")
        if isinstance(v, int) and v > MAX_REPLICAS:
            raise ValueError(f"replicas must be at most {MAX_REPLICAS} per placement")
        return v

    @property
    def min_replicas(self) -> int:
        return self.replicas if isinstance(self.replicas, int) else self.replicas.min

    @property
    def max_replicas(self) -> int:
        return self.replicas if isinstance(self.replicas, int) else self.replicas.max


class Autoscaling(_Strict):
    metric: Literal["requests_waiting", "kv_cache_usage", "ttft_p95"] = Field(
        description="requests_waiting (vllm:num_requests_waiting), kv_cache_usage (0-1), ttft_p95 (seconds)."
    )
    target: float = Field(gt=0, le=1e6, description="Target value per replica.")


class Analysis(_Strict):
    """Checked at every rollout step; a breach aborts and rolls back."""

    max_error_rate: float = Field(0.01, ge=0, le=1, description="Largest share of failed requests.")
    max_ttft_p95_seconds: float = Field(
        2.0, gt=0, le=3600, description="Largest time-to-first-token p95, seconds."
    )
    min_requests: int = Field(
        50,
        ge=0,
        le=1_000_000_000,
        description="Fewest requests in a step; below this a step cannot pass.",
    )


class Rollout(_Strict):
    strategy: Literal["canary", "blue-green", "rolling"] = Field(
        "canary", description="How a serving change rolls out."
    )
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        max_length=20,
        description="Canary traffic percentages, increasing, ending at 100.",
    )
    interval: str = Field(
        "5m",
        pattern=DURATION,
        max_length=8,
        description="Time at each step before analysis, from 1s to 24h, e.g. 30s, 5m, 1h.",
    )
    analysis: Analysis = Field(
        default_factory=Analysis, description="Thresholds checked at every step."
    )

    @field_validator("interval")
    @classmethod
    def _interval_range(cls, v: str) -> str:
        seconds = int(v[:-1]) * {"s": 1, "m": 60, "h": 3600}[v[-1]]
        if not 1 <= seconds <= 86_400:
            raise ValueError("interval must be from 1s to 24h")
        return v


class Model(_Strict):
    """A model served by vLLM."""

    name: Name = Field(
        description="Model name; also the name clients send unless served_name is set."
    )
    served_name: str | None = Field(
        None,
        pattern=SERVED_NAME,
        max_length=128,
        description="Model id clients send in requests, e.g. meta-llama/Llama-3.1-8B-Instruct "
        "(letters, digits, '.', '_', ':', '-', and '/' between parts); default: name. Object "
        "names always come from `name`.",
    )
    source: str = Field(
        pattern=r"^(hf://[\w.-]+/[\w.-]+|s3://[a-z0-9][a-z0-9.-]+(/.*)?"
        r"|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[\w.-]+)*/?)$",
        description="hf://org/repo, s3://bucket/prefix, or pvc://CLAIM/path: weights already on "
        "an existing PersistentVolumeClaim of the cluster's namespace, mounted read-only.",
    )
    revision: str | None = Field(
        None, description="Hugging Face commit to pin; unpinned is a warning."
    )
    hf_token_secret: str | None = Field(
        None, description="Kubernetes Secret (key HF_TOKEN) for gated repositories."
    )
    architecture: Architecture | None = Field(
        None, description="Model shape; optional when the model is in the catalog."
    )
    engine: Engine = Field(default_factory=Engine, description="vLLM settings.")
    gpus: int | None = Field(
        None,
        ge=1,
        le=MAX_GPUS_PER_REPLICA,
        description="GPUs per replica (tensor parallel); derived when omitted.",
    )
    placements: list[Placement] = Field(
        min_length=1, description="Where replicas run; at least one."
    )
    autoscaling: Autoscaling | None = Field(
        None, description="Scale replicas within {min, max} on a vLLM metric."
    )
    rollout: Rollout = Field(
        default_factory=Rollout, description="How changes to this model roll out."
    )


class SecretRef(_Strict):
    secret_env: str = Field(
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Environment variable holding the value at apply time.",
    )


class RateLimit(_Strict):
    requests_per_minute: int = Field(ge=1, le=1_000_000_000, description="Per API key.")


class Backend(_Strict):
    model: str = Field(description="A model's name.")
    weight: int = Field(100, ge=0, le=100, description="Relative weight.")


class Route(_Strict):
    name: Name = Field(description="Route name; clients send it as the model name.")
    backends: list[Backend] = Field(min_length=1, description="Models behind the route, weighted.")
    fallback: list[str] = Field(
        default_factory=list, description="Models tried when the backends fail."
    )


class Gateway(_Strict):
    """One OpenAI-compatible endpoint per cluster."""

    hostname: str | None = Field(None, description="Public host name of the endpoint.")
    dns_zone: str | None = Field(
        None, description="Route 53 hosted zone: one health-checked name over all clusters."
    )
    api_keys: SecretRef | None = Field(
        None, description="A reference to the API keys, never the keys themselves."
    )
    rate_limit: RateLimit | None = Field(None, description="Per-key rate limit.")
    routes: list[Route] | None = Field(
        None, description="Default: one route per model, by its name."
    )
    allow_unauthenticated: bool = Field(
        False,
        description="The endpoint is meant to be open (no api_keys): silences validate's warning "
        "that anyone who reaches it can use the models.",
    )


class Monitoring(_Strict):
    prometheus_url: str = Field(
        pattern=r"^https?://", description="Prometheus for rollout analysis and token counts."
    )


class Budget(_Strict):
    monthly_usd: float = Field(
        gt=0,
        le=MAX_USD,
        description="Most the deployment may cost a month with every pool at its maximum.",
    )
    on_exceed: Literal["block", "warn"] = Field(
        "block", description="block: plan and apply fail (exit 3); warn: a warning."
    )


class Spec(_Strict):
    """llm.yaml, version 1."""

    version: Literal[1] = Field(description="Spec version: the integer 1.")
    name: str = Field(
        pattern=DNS_LABEL,
        max_length=40,
        description="Deployment name; DNS-1123 label, at most 40 chars; names every resource.",
    )
    state: str | None = Field(
        None,
        pattern=r"^(file://|s3://)",
        description="State backend: file://PATH (default $LLMCTL_HOME/state) or s3://bucket/prefix.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Become AWS tags and Kubernetes labels everywhere."
    )
    clusters: list[Cluster] = Field(min_length=1, description="At least one; names unique.")
    models: list[Model] = Field(min_length=1, description="At least one; names unique.")
    gateway: Gateway = Field(default_factory=Gateway, description="The OpenAI-compatible gateway.")
    monitoring: Monitoring | None = Field(None, description="Where metrics live.")
    budget: Budget | None = Field(None, description="Monthly budget that can block an apply.")

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("version must be the integer 1 (write `version: 1`)")
        return v


def json_schema() -> dict[str, Any]:
    """The JSON Schema of llm.yaml, from the model."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "llm.yaml"
    return schema
