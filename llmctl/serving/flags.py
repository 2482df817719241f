"""The `vllm serve` flag table, keyed by pinned vLLM version, and the argv built from it.

STDLIB ONLY: this module is copied into the serving image (as `llmctl_serving.flags`) and
delivered by the serving ConfigMap for the upstream image.

Every flag llmctl emits must be one the pinned version accepts, because vLLM's argument
parser exits on an unknown flag and the replica never starts. Which flags each version has is
GENERATED from that version's own wheel (scripts/gen_vllm_flags.py reads the argument
definitions from vLLM's source: vllm_versions.py here, the full sets in vllm_flags.json). What
differs between the supported versions, and what llmctl does about it:

- Request logging: up to v0.10.0 `vllm serve` logs every request (prompts included) unless
  `--disable-log-requests` is given; from v0.10.1 it is off by default (`--enable-log-requests`
  exists), and `--disable-log-requests` is gone from v0.17. llmctl passes
  `--disable-log-requests` only where requests are logged by default (no --enable-log-requests).
- `--shutdown-timeout` (drain in-flight requests on SIGTERM; default 0, abort) exists from
  v0.18.0: llmctl passes the model's shutdown timeout there. Older versions abort in-flight
  requests on SIGTERM; the launcher's kill deadline still bounds the exit.
- `--disable-uvicorn-access-log` (a line per request) is passed wherever it exists.
- The API key is never a flag: vLLM reads `VLLM_API_KEY` from its environment on every
  supported version, which keeps the key out of argv and `ps`.
- Multi-node replicas (one `vllm serve` per node of a LeaderWorkerSet group): from v0.11.2
  vLLM starts them without Ray, with its multiprocessing executor across nodes (`--nnodes`,
  `--node-rank`, `--master-addr`, `--master-port`; every node but rank 0 runs `--headless`,
  without the API server), which is what vLLM's own LeaderWorkerSet example does. Older
  versions need a Ray cluster in the group; llmctl refuses multi-node replicas on them (the
  spec says to pin a newer version). The static part of that argv (pipeline parallel size,
  backend, node count, port) is in the config; the rank and the leader's address come from
  the group's environment at start (`group_args`: LWS_WORKER_INDEX, LWS_LEADER_ADDRESS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .vllm_versions import LACKS, MANAGED_FLAGS

# The newest supported version; 0.9.2 and 0.11.0 stay for revisions earlier llmctl recorded.
DEFAULT_VERSION = list(LACKS)[-1]
KILL_MARGIN_SECONDS = 15  # after the drain: vLLM's engine and workers exit, then SIGKILL
# vLLM imports `--middleware module.Name` and adds it to its API server (every version here).
ROOM_MIDDLEWARE = "llmctl_serving.room.RoomMiddleware"


@dataclass(frozen=True)
class VersionFlags:
    """What one pinned vLLM version's `vllm serve` accepts, for the settings llmctl sets."""

    version: str
    flags: Mapping[str, str | None]  # llmctl setting -> flag; None: this version has none
    dtypes: frozenset[str]
    quantizations: frozenset[str]
    kv_cache_dtypes: frozenset[str]
    request_logs_on_by_default: bool  # True: pass flags["disable_request_logs"]


# llmctl setting -> the flag that carries it, where the version has it.
_SETTING_FLAGS: dict[str, str] = {
    "served_name": "--served-model-name",
    "host": "--host",
    "port": "--port",
    "revision": "--revision",
    "download_dir": "--download-dir",
    "load_format": "--load-format",
    "tensor_parallel": "--tensor-parallel-size",
    "pipeline_parallel": "--pipeline-parallel-size",
    "max_model_len": "--max-model-len",
    "dtype": "--dtype",
    "quantization": "--quantization",
    "kv_cache_dtype": "--kv-cache-dtype",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "max_num_seqs": "--max-num-seqs",
    # Accepted by every version, never emitted: the key travels as VLLM_API_KEY.
    "api_key": "--api-key",
    "disable_request_logs": "--disable-log-requests",
    "shutdown_timeout": "--shutdown-timeout",
    "disable_access_log": "--disable-uvicorn-access-log",
    "middleware": "--middleware",
    "executor_backend": "--distributed-executor-backend",
    "nnodes": "--nnodes",
    "node_rank": "--node-rank",
    "master_addr": "--master-addr",
    "master_port": "--master-port",
    "headless": "--headless",
}
# What a multi-node replica needs of its vLLM version (native multi-node, no Ray).
MULTI_NODE_SETTINGS = ("executor_backend", "nnodes", "node_rank", "master_addr", "master_port")
# LeaderWorkerSet's environment in every member of a group (set by its pod webhook).
GROUP_RANK_ENV = "LWS_WORKER_INDEX"
GROUP_LEADER_ENV = "LWS_LEADER_ADDRESS"

_DTYPES = frozenset({"auto", "half", "float16", "bfloat16", "float", "float32"})
_QUANTIZATIONS = frozenset({"fp8", "awq", "gptq"})  # the ones llm.yaml offers
_KV_CACHE_DTYPES = frozenset({"auto", "fp8", "fp8_e4m3", "fp8_e5m2"})


def _row(version: str, lacks: tuple[str, ...]) -> VersionFlags:
    has = set(MANAGED_FLAGS) - set(lacks)
    return VersionFlags(
        version=version,
        flags={k: (f if f in has else None) for k, f in _SETTING_FLAGS.items()},
        dtypes=_DTYPES,
        quantizations=_QUANTIZATIONS,
        kv_cache_dtypes=_KV_CACHE_DTYPES,
        # No --enable-log-requests: this version logs requests (prompts too) by default.
        request_logs_on_by_default="--enable-log-requests" not in has,
    )


FLAG_TABLE: dict[str, VersionFlags] = {v: _row(v, lacks) for v, lacks in LACKS.items()}

SUPPORTED_VERSIONS: tuple[str, ...] = tuple(FLAG_TABLE)

# Where a user changes what a managed flag says (for the extra_args conflict message).
_FIELD_FOR_FLAG = {
    "--served-model-name": "the model's served_name",
    "--host": "nothing (the launcher binds 0.0.0.0)",
    "--port": "nothing (the port is part of the Kubernetes objects)",
    "--revision": "the model's revision",
    "--download-dir": "nothing (the cache volume is mounted by llmctl)",
    "--load-format": "the model's source (s3:// streams, hf:// downloads)",
    "--tensor-parallel-size": "the model's gpus",
    "--pipeline-parallel-size": "the model's gpus",
    "--max-model-len": "engine.max_model_len",
    "--dtype": "engine.dtype",
    "--quantization": "engine.quantization",
    "--kv-cache-dtype": "engine.kv_cache_dtype",
    "--gpu-memory-utilization": "engine.gpu_memory_utilization",
    "--max-num-seqs": "engine.max_num_seqs",
    "--disable-log-requests": "nothing (llmctl keeps request logs off)",
    "--disable-uvicorn-access-log": "nothing (llmctl keeps the access log off)",
    "--shutdown-timeout": "the model's engine.shutdown_timeout_seconds",
    "--middleware": "nothing (llmctl adds its room middleware where a gateway spills over)",
    "--distributed-executor-backend": "nothing (a multi-node replica uses vLLM's own)",
    "--nnodes": "the model's gpus",
    "--node-rank": "nothing (each member of a group takes its rank from LeaderWorkerSet)",
    "--master-addr": "nothing (the group's leader is the master)",
    "--master-port": "nothing (llmctl picks the group's port)",
    "--headless": "nothing (every member but the leader is headless)",
}
_SHORT_ALIASES = {"-tp": "--tensor-parallel-size", "-pp": "--pipeline-parallel-size"}
_SECRET_FLAGS = frozenset({"--api-key", "--hf-token"})

_REQUIRED = {
    "model": str,
    "served_name": str,
    "source": str,
    "vllm_version": str,
    "tensor_parallel": int,
    "max_model_len": int,
    "dtype": str,
    "kv_cache_dtype": str,
    "gpu_memory_utilization": float,
    "max_num_seqs": int,
    "port": int,
    "load": dict,
}
_DEFAULTS: dict[str, Any] = {
    "served_aliases": [],
    "revision": None,
    "pipeline_parallel": 1,
    "quantization": None,
    "extra_args": [],
    "shutdown_timeout_seconds": 30,
    "kill_after_seconds": None,  # None: shutdown_timeout_seconds + KILL_MARGIN_SECONDS
    "api_key_env": None,
    "hf_token_env": None,
    # {"max_in_flight": N, "max_waiting": W}: the replica sits behind a gateway that spills to
    # another cluster; vLLM runs llmctl's room middleware (room.py) answering /llmctl/room.
    "room": None,
    "multi_node": None,  # {"nodes": N, "master_port": P}: one vLLM per node of a group
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
_PVC_URI = re.compile(r"^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[\w.-]+)*/?$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def supports_multi_node(version: str) -> bool:
    """Whether `version` runs one replica across nodes without Ray (v0.11.2 and later)."""
    return all(flags_for(version).flags[k] for k in MULTI_NODE_SETTINGS)


def flags_for(version: str) -> VersionFlags:
    """The flag table row of a pinned vLLM version; ValueError if llmctl does not support it."""
    try:
        return FLAG_TABLE[version]
    except KeyError:
        raise ValueError(
            f"vLLM version {version!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}"
        ) from None


def base_image(version: str) -> str:
    """The upstream image the serving image is built FROM, e.g. vllm/vllm-openai:v0.11.0."""
    return f"vllm/vllm-openai:v{flags_for(version).version}"


def _check_type(key: str, value: Any, expected: type) -> None:
    # bool is an int subclass: "tensor_parallel: true" must not pass as 1.
    ok = isinstance(value, expected) and not isinstance(value, bool)
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ValueError(
            f"serving config: {key} must be {expected.__name__}, got {type(value).__name__}"
        )


def _positive(cfg: Mapping[str, Any], key: str, low: int = 1) -> None:
    if cfg[key] < low:
        raise ValueError(f"serving config: {key} must be >= {low}, got {cfg[key]}")


def validate_config(config: Any) -> dict[str, Any]:
    """The serving config with defaults filled in; a ValueError says what is wrong with it."""
    if not isinstance(config, dict):
        raise ValueError(f"serving config must be a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_REQUIRED) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"serving config: unknown key(s): {', '.join(unknown)}")
    missing = sorted(k for k in _REQUIRED if k not in config)
    if missing:
        raise ValueError(f"serving config: missing key(s): {', '.join(missing)}")
    cfg = {**_DEFAULTS, **config}
    for key, expected in _REQUIRED.items():
        _check_type(key, cfg[key], expected)
    table = flags_for(cfg["vllm_version"])
    for key in ("model", "served_name"):
        if not cfg[key].strip():
            raise ValueError(f"serving config: {key} must not be empty")
    aliases = cfg["served_aliases"]
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise ValueError("serving config: served_aliases must be a list of non-empty names")
    for key in ("tensor_parallel", "max_model_len", "max_num_seqs"):
        _positive(cfg, key)
    _check_type("pipeline_parallel", cfg["pipeline_parallel"], int)
    _positive(cfg, "pipeline_parallel")
    if not 1 <= cfg["port"] <= 65535:
        raise ValueError(f"serving config: port must be 1..65535, got {cfg['port']}")
    if not 0 < cfg["gpu_memory_utilization"] <= 1:
        raise ValueError(
            "serving config: gpu_memory_utilization must be in (0, 1], "
            f"got {cfg['gpu_memory_utilization']}"
        )
    _check_choice(cfg, "dtype", table.dtypes)
    _check_choice(cfg, "kv_cache_dtype", table.kv_cache_dtypes)
    if cfg["quantization"] == "none":  # llm.yaml spelling of "no quantization"
        cfg["quantization"] = None
    if cfg["quantization"] is not None:
        _check_choice(cfg, "quantization", table.quantizations)
    _check_source(cfg)
    _check_load(cfg)
    _check_type("shutdown_timeout_seconds", cfg["shutdown_timeout_seconds"], float)
    if cfg["shutdown_timeout_seconds"] < 0:
        raise ValueError("serving config: shutdown_timeout_seconds must be >= 0")
    if cfg["kill_after_seconds"] is None:
        cfg["kill_after_seconds"] = cfg["shutdown_timeout_seconds"] + KILL_MARGIN_SECONDS
    _check_type("kill_after_seconds", cfg["kill_after_seconds"], float)
    if cfg["kill_after_seconds"] <= cfg["shutdown_timeout_seconds"]:
        # The launcher must not kill vLLM while vLLM may still be draining.
        raise ValueError(
            "serving config: kill_after_seconds must be larger than shutdown_timeout_seconds"
        )
    for key in ("api_key_env", "hf_token_env"):
        value = cfg[key]
        if value is not None and not (isinstance(value, str) and _ENV_NAME.match(value)):
            raise ValueError(f"serving config: {key} must be an environment variable name or null")
    extra = cfg["extra_args"]
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        raise ValueError("serving config: extra_args must be a list of strings")
    room = cfg["room"]
    if room is not None and not (
        isinstance(room, dict)
        and set(room) == {"max_in_flight", "max_waiting"}
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in room.values())
    ):
        raise ValueError(
            "serving config: room must be null or {max_in_flight: N, max_waiting: W}, both >= 1"
        )
    _check_multi_node(cfg)
    return cfg


def _check_multi_node(cfg: Mapping[str, Any]) -> None:
    group = cfg["multi_node"]
    if group is None:
        return
    if not isinstance(group, dict) or sorted(group) != ["master_port", "nodes"]:
        raise ValueError("serving config: multi_node must be {nodes, master_port} or null")
    for key in ("nodes", "master_port"):
        _check_type(f"multi_node.{key}", group[key], int)
    if group["nodes"] < 2:
        raise ValueError("serving config: multi_node.nodes must be >= 2")
    if not 1 <= group["master_port"] <= 65535 or group["master_port"] == cfg["port"]:
        raise ValueError("serving config: multi_node.master_port must be 1..65535, not the port")
    if group["nodes"] != cfg["pipeline_parallel"]:
        # One pipeline stage per node: the layers split across nodes, tensors within one.
        raise ValueError("serving config: multi_node.nodes must equal pipeline_parallel")
    if not supports_multi_node(cfg["vllm_version"]):
        raise ValueError(
            f"vLLM {cfg['vllm_version']} cannot run one replica across nodes without Ray "
            "(it has no --nnodes); use vLLM 0.11.2 or later"
        )


def _check_choice(cfg: Mapping[str, Any], key: str, choices: frozenset[str]) -> None:
    if cfg[key] not in choices:
        raise ValueError(
            f"serving config: {key} {cfg[key]!r} is not accepted by vLLM {cfg['vllm_version']}; "
            f"choose one of: {', '.join(sorted(choices))}"
        )


def _check_source(cfg: Mapping[str, Any]) -> None:
    source, revision = cfg["source"], cfg["revision"]
    if source.startswith("hf://"):
        if not _HF_REPO.match(source[len("hf://") :]):
            raise ValueError(f"serving config: source {source!r} is not hf://org/repo")
        if revision is not None and not (isinstance(revision, str) and _REVISION.match(revision)):
            raise ValueError("serving config: revision must be a commit, branch or tag, or null")
    elif source.startswith("s3://"):
        if not _S3_URI.match(source):
            raise ValueError(f"serving config: source {source!r} is not s3://bucket/prefix")
        if revision is not None:
            raise ValueError(
                "serving config: revision applies to hf:// sources only; "
                "an s3:// prefix is pinned by its path"
            )
    elif source.startswith("pvc://"):
        if not _PVC_URI.match(source) or "/../" in f"{source}/" or "/./" in f"{source}/":
            raise ValueError(f"serving config: source {source!r} is not pvc://claim/path")
        if revision is not None:
            raise ValueError("serving config: revision applies to hf:// sources only")
    else:
        raise ValueError(
            f"serving config: source {source!r} must start with hf://, s3:// or pvc://"
        )


def _check_load(cfg: Mapping[str, Any]) -> None:
    load = cfg["load"]
    unknown = sorted(set(load) - {"mode", "cache_dir", "path"})
    if unknown:
        raise ValueError(f"serving config: load has unknown key(s): {', '.join(unknown)}")
    mode, cache_dir = load.get("mode"), load.get("cache_dir")
    if mode not in ("stream", "download", "local"):
        raise ValueError(
            f"serving config: load.mode must be 'stream', 'download' or 'local', got {mode!r}"
        )
    if not (isinstance(cache_dir, str) and cache_dir.startswith("/")):
        raise ValueError("serving config: load.cache_dir must be an absolute path")
    # The Run:ai streamer reads object storage; vLLM's Hugging Face path downloads; a claim's
    # directory is mounted read-only and read where it is.
    scheme = cfg["source"].split("://", 1)[0]
    expected = {"s3": "stream", "hf": "download", "pvc": "local"}[scheme]
    if mode != expected:
        raise ValueError(
            f"serving config: load.mode {mode!r} does not fit source {cfg['source']!r}; "
            "s3:// sources stream, hf:// sources download, pvc:// sources are local "
            f"(expected {expected!r})"
        )
    path = load.get("path")
    if mode == "local" and not (isinstance(path, str) and path.startswith("/")):
        raise ValueError("serving config: load.path must be the absolute path of the weights")


def model_ref(config: Mapping[str, Any]) -> str:
    """The positional MODEL of `vllm serve`: the hf repo id, the s3:// URI itself, or the
    mounted directory of a pvc:// source."""
    source: str = config["source"]
    if source.startswith("pvc://"):
        path: str = config["load"]["path"]
        return path
    return source[len("hf://") :] if source.startswith("hf://") else source


def build_serve_args(config: dict[str, Any]) -> list[str]:
    """The argv after `vllm serve`: [model_ref, --flag, value, ...], extra_args last."""
    cfg = validate_config(config)
    table = flags_for(cfg["vllm_version"])
    flag = table.flags
    out: list[str] = [model_ref(cfg)]

    def emit(setting: str, value: object | None = None) -> None:
        name = flag[setting]
        if name is None:  # this version has no such flag: never pass it
            return
        out.append(name)
        if value is not None:
            out.append(str(value))

    emit("served_name", cfg["served_name"])
    out.extend(cfg["served_aliases"])  # --served-model-name takes several names (nargs="+")
    emit("host", "0.0.0.0")
    emit("port", cfg["port"])
    if cfg["load"]["mode"] == "stream":
        emit("load_format", "runai_streamer")
    elif cfg["load"]["mode"] == "download":
        if cfg["revision"] is not None:
            emit("revision", cfg["revision"])
        emit("download_dir", cfg["load"]["cache_dir"])
    emit("tensor_parallel", cfg["tensor_parallel"])
    emit("pipeline_parallel", cfg["pipeline_parallel"])
    emit("max_model_len", cfg["max_model_len"])
    emit("dtype", cfg["dtype"])
    if cfg["quantization"] is not None:
        emit("quantization", cfg["quantization"])
    emit("kv_cache_dtype", cfg["kv_cache_dtype"])
    emit("gpu_memory_utilization", float(cfg["gpu_memory_utilization"]))
    emit("max_num_seqs", cfg["max_num_seqs"])
    if table.request_logs_on_by_default:
        emit("disable_request_logs")
    emit("disable_access_log")
    # From v0.18 vLLM drains on SIGTERM for this long (its default, 0, aborts every request).
    emit("shutdown_timeout", int(cfg["shutdown_timeout_seconds"]))
    if cfg["room"] is not None:
        emit("middleware", ROOM_MIDDLEWARE)
    group = cfg["multi_node"]
    if group is not None:
        emit("executor_backend", "mp")
        emit("nnodes", group["nodes"])
        emit("master_port", group["master_port"])
    runtime: set[str] = set()
    if group is not None:
        runtime = {str(flag[k]) for k in ("node_rank", "master_addr", "headless") if flag[k]}
    _check_extra_args(cfg["extra_args"], set(out[1:]) | runtime)
    return out + list(cfg["extra_args"])


def group_args(config: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The argv a member of a multi-node group adds at start: its rank and the leader's
    address from LeaderWorkerSet's environment, and `--headless` on every member but the
    leader (rank 0), which alone runs the API server. [] for a single-node replica."""
    cfg = validate_config(config)
    if cfg["multi_node"] is None:
        return []
    rank_text = environ.get(GROUP_RANK_ENV, "")
    leader = environ.get(GROUP_LEADER_ENV, "")
    if not rank_text.isdigit() or not leader:
        raise ValueError(
            f"a multi-node replica needs {GROUP_RANK_ENV} and {GROUP_LEADER_ENV} "
            "(set by LeaderWorkerSet in every member of a group); they are not set"
        )
    rank = int(rank_text)
    if rank >= cfg["multi_node"]["nodes"]:
        raise ValueError(
            f"{GROUP_RANK_ENV}={rank} but the group has {cfg['multi_node']['nodes']} nodes"
        )
    flag = flags_for(cfg["vllm_version"]).flags
    out = [str(flag["node_rank"]), str(rank), str(flag["master_addr"]), leader]
    if rank > 0:
        out.append(str(flag["headless"]))
    return out


def _flag_name(arg: str) -> str:
    # vLLM's parser accepts --max_model_len for --max-model-len, and --flag=value.
    name = arg.split("=", 1)[0]
    name = _SHORT_ALIASES.get(name, name)
    return "--" + name[2:].replace("_", "-") if name.startswith("--") else name


def _check_extra_args(extra: list[str], emitted: set[str]) -> None:
    for arg in extra:
        if not arg.startswith("-"):
            continue
        name = _flag_name(arg)
        if name in _SECRET_FLAGS:
            raise ValueError(
                f"extra_args must not carry {name}: secrets never go in the spec or argv; "
                "the API key reaches vLLM as the VLLM_API_KEY environment variable"
            )
        if name == "--model":
            raise ValueError("extra_args must not set --model: the model comes from source")
        if name in emitted:
            raise ValueError(
                f"extra_args sets {name}, which llmctl already sets; "
                f"change {_FIELD_FOR_FLAG.get(name, 'the matching llm.yaml field')} instead"
            )


def secret_flags() -> frozenset[str]:
    """Flags whose value is a secret: the launcher masks their values when it logs argv."""
    return _SECRET_FLAGS
