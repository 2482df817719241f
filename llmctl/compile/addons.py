"""The components llmctl installs into each cluster with Helm (addons), resolved once.

Each cluster's `addons:` in the spec may skip a component the cluster already runs or take its
chart from a local directory or a mirror; LLMCTL_ADDONS overrides the spec for one run (as the
e2e harness and air-gapped CI runners do). The result is stored in the IR, so a revision records
what its apply installed, and a rollback installs the same.

LLMCTL_ADDONS: comma-separated `NAME=VALUE`, NAME one of ADDONS (`-` or `_`), VALUE `existing`
(not installed: the cluster runs it), `install` (the pinned public chart), or a chart: a local
path or an oci:// / https:// reference, optionally `@VERSION`.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmctl.compile.findings import Findings
from llmctl.errors import LlmctlError
from llmctl.ir import AddonIR
from llmctl.spec.model import Addon, Cluster
from llmctl.spec.source import Path_

ENV = "LLMCTL_ADDONS"
# Every addon, with the providers whose clusters get it.
ADDONS: dict[str, tuple[str, ...]] = {
    "envoy-gateway": ("kubernetes", "aws"),
    "keda": ("kubernetes", "aws"),
    "lws": ("kubernetes", "aws"),
    "nvidia-device-plugin": ("aws",),
    "cluster-autoscaler": ("aws",),
    "kube-prometheus-stack": ("aws",),  # installed where `install_prometheus` (compile/monitoring)
    "efa-device-plugin": ("aws",),
}
ENV_HINT = (
    f"{ENV} is comma-separated NAME=VALUE, NAME one of {', '.join(ADDONS)}, VALUE `existing`, "
    "`install`, or a chart (a local path, oci:// or https://, optionally @VERSION)"
)


def env_overrides(text: str | None = None) -> dict[str, AddonIR]:
    """LLMCTL_ADDONS (or `text`) parsed; relative chart paths resolve against the current directory."""
    text = os.environ.get(ENV, "") if text is None else text
    out: dict[str, AddonIR] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        name = name.strip().replace("_", "-")
        value = value.strip()
        if not sep or name not in ADDONS or not value:
            raise LlmctlError(f"{ENV}: cannot read {entry[:80]!r}", hint=ENV_HINT)
        if value == "existing":
            out[name] = AddonIR(name=name, install=False, set_by=ENV)
        elif value == "install":
            out[name] = AddonIR(name=name, set_by=ENV)
        else:
            chart, version = _split_version(value)
            chart = _resolve(chart, Path.cwd())
            if not _is_url(chart) and not Path(chart).exists():
                raise LlmctlError(
                    f"{ENV}: the chart of {name} does not exist: {chart}", hint=ENV_HINT
                )
            out[name] = AddonIR(name=name, chart=chart, version=version, set_by=ENV)
    return out


def cluster_addons(
    f: Findings, cluster: Cluster, provider: str, path: Path_, overrides: dict[str, AddonIR]
) -> tuple[AddonIR, ...]:
    """The cluster's addons that differ from the pinned defaults (LLMCTL_ADDONS over the spec);
    an addon not listed is installed from its pinned public chart (`ClusterIR.addon`)."""
    base = Path(f.source.file).resolve().parent if f.source.file else Path.cwd()
    out = []
    for name, providers in ADDONS.items():
        if provider not in providers:
            continue
        field = name.replace("-", "_")
        spec: Addon = getattr(cluster.addons, field)
        if name in overrides:
            out.append(overrides[name])
            continue
        if field not in cluster.addons.model_fields_set:
            continue
        if spec.chart is not None and not spec.install:
            f.warn(
                (*path, "addons", field, "chart"),
                f"{name} has `install: false`, so its `chart` is not used",
                "remove `chart`, or set `install: true`",
            )
        chart = _resolve(spec.chart, base) if spec.chart else None
        if chart and not _is_url(chart) and not Path(chart).exists():
            f.error(
                (*path, "addons", field, "chart"),
                f"chart {spec.chart} of {name} does not exist (looked for {chart})",
                "a path is relative to this file; or give an oci:// or https:// chart",
            )
        out.append(
            AddonIR(
                name=name, install=spec.install, chart=chart, version=spec.version, set_by="spec"
            )
        )
    for field in cluster.addons.model_fields_set:
        name = field.replace("_", "-")
        if provider not in ADDONS[name]:
            f.error(
                (*path, "addons", field),
                f"{name} is installed on aws clusters only",
                "remove it from this cluster's addons",
            )
    return tuple(out)


def _split_version(value: str) -> tuple[str, str | None]:
    head, sep, tail = value.rpartition("@")
    if sep and head and "/" not in tail and ":" not in tail:
        return head, tail
    return value, None


def _is_url(chart: str) -> bool:
    return chart.startswith(("oci://", "https://", "http://"))


def _resolve(chart: str, base: Path) -> str:
    if _is_url(chart):
        return chart
    return str((base / os.path.expanduser(chart)).resolve())
