"""The bundled catalog: AWS GPU instance types with prices, GPU models, and open-model shapes.

Data files sit beside this module, each with its `source` and `date`; loaders are cached.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_DIR = Path(__file__).parent
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates


@dataclass(frozen=True)
class InstanceType:
    name: str
    gpu: str
    gpus: int
    gpu_memory_gib: float
    vcpus: int
    memory_gib: float
    price_usd_hour: dict[str, float]
    spot_usd_hour: dict[str, float]
    efa_interfaces: int = 0  # Elastic Fabric Adapter interfaces (0: no EFA)


@dataclass(frozen=True)
class GpuModel:
    name: str
    memory_gib: float
    bandwidth_gbps: float
    fp8: bool
    aliases: tuple[str, ...]
    bf16_tflops: float = 0.0  # dense Tensor Core peak; 0: unknown


@dataclass(frozen=True)
class ModelShape:
    repo: str
    params_b: float
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    max_position_embeddings: int


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_DIR / f"{name}.json").read_text())
    return data


def provenance() -> dict[str, dict[str, str]]:
    """Source and date of each bundled data file."""
    return {
        n: {"source": _load(n)["source"], "date": _load(n)["date"]}
        for n in ("instances", "gpus", "models")
    }


@cache
def instance_types() -> dict[str, InstanceType]:
    """Every bundled instance type by name."""
    out = {}
    for name, d in _load("instances")["instances"].items():
        out[name] = InstanceType(
            name,
            d["gpu"],
            d["gpus"],
            d["gpu_memory_gib"],
            d["vcpus"],
            d["memory_gib"],
            dict(d.get("price_usd_hour") or {}),
            dict(d.get("spot_usd_hour") or {}),
            int(d.get("efa_interfaces", 0)),
        )
    return out


@cache
def regions() -> tuple[str, ...]:
    """Regions with at least one priced instance type (bundled prices)."""
    return tuple(sorted({r for i in instance_types().values() for r in i.price_usd_hour}))


@cache
def aws_regions() -> dict[str, str]:
    """Every AWS Region that offers GPU instances: code -> name (priced or not)."""
    return dict(_load("regions")["regions"])


@cache
def gpu_models() -> dict[str, GpuModel]:
    """Every bundled GPU model by canonical name."""
    return {
        name: GpuModel(
            name,
            d["memory_gib"],
            d["bandwidth_gbps"],
            bool(d.get("fp8")),
            tuple(d.get("aliases", ())),
            float(d.get("bf16_tflops", 0.0)),
        )
        for name, d in _load("gpus")["gpus"].items()
    }


def find_gpu(name: str) -> GpuModel | None:
    """A GPU by canonical name or node-label alias, case-insensitively."""
    wanted = name.lower()
    for gpu in gpu_models().values():
        if gpu.name.lower() == wanted or wanted in (a.lower() for a in gpu.aliases):
            return gpu
    return None


@cache
def model_shapes() -> dict[str, ModelShape]:
    """Every bundled model shape, by Hugging Face repo id and by each alias (lowercased)."""
    out = {}
    for repo, d in _load("models")["models"].items():
        shape = ModelShape(
            repo,
            d["params_b"],
            d["layers"],
            d["heads"],
            d["kv_heads"],
            d["head_dim"],
            d.get("max_position_embeddings", 8192),
        )
        for key in (repo, *d.get("aliases", ())):
            out[key.lower()] = shape
    return out


def find_model(repo: str) -> ModelShape | None:
    """The shape of a Hugging Face repo id, if bundled."""
    return model_shapes().get(repo.lower())


def close_matches(word: str, candidates: list[str] | tuple[str, ...], n: int = 3) -> list[str]:
    """Up to n candidates close to `word`, for "did you mean" hints."""
    lowered = {c.lower(): c for c in candidates}
    return [
        lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    ]


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...], otherwise: str) -> str:
    """A hint naming the candidates close to `word`, or `otherwise` when none is."""
    near = close_matches(word, candidates)
    return f"did you mean {' or '.join(repr(n) for n in near)}?" if near else otherwise
