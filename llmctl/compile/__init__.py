"""COMPILE: Spec -> Deployment IR. Pure: no I/O beyond the bundled catalog.

Resolves defaults and the catalog, checks every semantic rule of SPEC.md (references, catalog,
GPU fit, GPU counts, capacity, warnings) collecting all findings in one pass, and produces the
frozen IR. `validate` is compile without keeping the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from llmctl import __version__, room
from llmctl.compile.checks import check_capacity, gateway_ir, warn_deployment
from llmctl.compile.clusters import cluster_ir
from llmctl.compile.findings import Findings, check_unique
from llmctl.compile.models import model_ir
from llmctl.compile.monitoring import with_cluster_monitoring
from llmctl.compile.overflow import with_gateway_peers
from llmctl.errors import Diagnostic, SpecInvalid
from llmctl.ir import BudgetIR, ClusterIR, Deployment, ModelIR, PoolIR
from llmctl.spec.model import Spec
from llmctl.spec.secrets import masked_text
from llmctl.spec.source import SpecSource

__all__ = ["Compiled", "Findings", "compile_file", "compile_spec"]

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Compiled:
    """A compiled spec: the IR and the warnings that did not stop it."""

    deployment: Deployment
    warnings: list[Diagnostic]
    source: SpecSource


def compile_file(path: str | Path) -> Compiled:
    """LOAD + VALIDATE + COMPILE a spec file; raises SpecInvalid with every error found."""
    from llmctl.spec.loader import read_source, validate_structure

    source = read_source(path)
    spec, diags = validate_structure(source)
    if not diags and spec is not None:
        return compile_spec(spec, source)
    warnings: list[Diagnostic] = []
    if spec is not None:  # the file minus its broken keys: report the semantic errors too
        broken = [d.path for d in diags]
        try:
            warnings = compile_spec(spec, source).warnings
        except SpecInvalid as exc:
            diags += [
                d
                for d in exc.diagnostics
                if not any(d.path.startswith(b) or b.startswith(d.path) for b in broken)
            ]
            warnings = exc.warnings
        # A warning about a part that has an error speaks of the defaults that stood in for the
        # broken keys (`strategy: rollin` is not "a canary rollout"): leave it out.
        warnings = [w for w in warnings if not any(_related(w.path, b) for b in broken)]
    raise SpecInvalid(diagnostics=diags, warnings=warnings, source_text=shown_text(source))


def _related(path: str, broken: str) -> bool:
    """`models[0].rollout` and `models[0].rollout.strategy` are related; `models[1]` is not."""
    return bool(path) and (
        path == broken
        or broken.startswith((path + ".", path + "["))
        or path.startswith((broken + ".", broken + "["))
    )


def shown_text(source: SpecSource) -> str:
    """The spec's text as error excerpts may show it: inline secrets masked."""
    return masked_text(source, source.secret_paths)


def resolve_state_url(url: str | None, spec_file: str) -> str | None:
    """A relative `file://` state resolved against the spec file's directory, so that the state
    is the same wherever the command runs; absolute, `~` and s3:// URLs are kept as written."""
    if url is None or not url.startswith("file://"):
        return url
    raw, sep, query = url[len("file://") :].partition("?")
    if not raw or raw.startswith(("/", "~")):
        return url
    path = (Path(spec_file).absolute().parent / raw).resolve()
    return f"file://{path}{sep}{query}"


def compile_spec(spec: Spec, source: SpecSource) -> Compiled:
    """Spec -> Deployment; raises SpecInvalid with every semantic error of the spec."""
    f = Findings(source)
    check_unique(f, [c.name for c in spec.clusters], ("clusters",), "cluster")
    check_unique(f, [m.name for m in spec.models], ("models",), "model")
    for key, value in spec.labels.items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            f.error(
                ("labels", key),
                f"label {key}={value!r} is not a valid Kubernetes label value",
                "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
            )
    clusters = [cluster_ir(f, spec, i) for i in range(len(spec.clusters))]
    pools = {p.key: p for c in clusters for p in c.pools}
    gateway = gateway_ir(f, spec)
    models = [
        m
        for i in range(len(spec.models))
        if (m := model_ir(f, spec, i, pools, gateway)) is not None
    ]
    models = with_surges(models, pools)
    check_capacity(f, spec, models, pools)
    clusters = with_efa(clusters, models)
    warn_deployment(f, spec, models, pools)
    clusters = with_cluster_monitoring(f, spec, clusters, models)
    gateway, models = with_gateway_peers(f, spec, gateway, models)
    if f.errors:
        raise SpecInvalid(diagnostics=f.errors, warnings=f.warnings, source_text=shown_text(source))
    deployment = Deployment(
        llmctl_version=__version__,
        name=spec.name,
        state=resolve_state_url(spec.state, source.file),
        labels=dict(spec.labels),
        clusters=tuple(clusters),
        models=tuple(models),
        gateway=gateway,
        prometheus_url=spec.monitoring.prometheus_url if spec.monitoring else None,
        budget=BudgetIR(monthly_usd=spec.budget.monthly_usd, on_exceed=spec.budget.on_exceed)
        if spec.budget
        else None,
    )
    return Compiled(deployment, f.warnings, source)


def with_efa(clusters: list[ClusterIR], models: list[ModelIR]) -> list[ClusterIR]:
    """A pool uses EFA (its node groups attach the instance type's EFA interfaces, its group
    members request them) only where a multi-node model runs on it; elsewhere `efa_per_node`
    is 0, so single-node pools stay as they were."""
    grouped = {p.pool for m in models if m.group is not None for p in m.placements}
    return [
        c.model_copy(
            update={
                "pools": tuple(
                    p
                    if p.key in grouped or not p.efa_per_node
                    else p.model_copy(update={"efa_per_node": 0})
                    for p in c.pools
                )
            }
        )
        for c in clusters
    ]


def with_surges(models: list[ModelIR], pools: dict[str, PoolIR]) -> list[ModelIR]:
    """Each placement's `update_surge` (whether one more replica fits its pool beside every
    placement at its maximum) and `rollout_surge` (what its rollout runs beside it), by
    `llmctl.room`'s rule."""
    out = []
    for m in models:
        placements = []
        for p in m.placements:
            pool = pools.get(p.pool)
            room_for_one = pool is not None and room.fits(
                pool, [*room.pool_load(models, p.pool), (m.gpus, 1)]
            )
            placements.append(
                p.model_copy(
                    update={
                        "update_surge": 1 if room_for_one else 0,
                        "rollout_surge": room.rollout_surge(m.rollout, p),
                    }
                )
            )
        out.append(m.model_copy(update={"placements": tuple(placements)}))
    return out
