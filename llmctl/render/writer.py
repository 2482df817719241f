"""`llmctl render`: every cluster's objects as YAML files, and writing them into a directory.

Layout: DIR/<cluster>/NN-<kind>-<name>.yaml, NN being the apply order, plus DIR/.llmctl-render,
a JSON marker listing the files llmctl wrote there, per spec (by its name), with their hashes.
The marker is the ownership record:
- a later render of the same spec overwrites and deletes only the files it wrote (a file it no
  longer renders is removed, so a deleted model's manifests do not linger for Argo CD to apply),
  and only when unchanged since; other specs' files in the same directory are left alone;
- a non-empty directory without a marker is refused unless `force` (the CLI's --force);
- files llmctl never wrote are left alone, unless one is in the way of a rendered file, which
  needs `force` too.
YAML is deterministic: same IR, same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmctl import __version__
from llmctl.errors import LlmctlError
from llmctl.release import Release

MARKER = ".llmctl-render"


@dataclass(frozen=True)
class WriteResult:
    """What `write_render_dir` did, as paths relative to the directory."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...] = ()  # no longer rendered, but changed since llmctl wrote them

    def __iter__(self) -> Iterator[str]:
        """The written paths, so a result reads as the list of files it wrote."""
        return iter(self.written)

    def __len__(self) -> int:
        return len(self.written)


def to_yaml(obj: Any) -> str:
    """`obj` as block-style YAML; multi-line strings (scripts, serving.json) as literal blocks.

    PyYAML's libyaml emitter: rendering hundreds of models is mostly YAML emitting, and the C
    emitter is an order of magnitude faster than a pure-Python one (bench/compile_render.py)."""
    import yaml

    # The JSON round trip makes plain, unshared dicts and lists out of whatever came in.
    return yaml.dump(
        json.loads(json.dumps(obj)),
        Dumper=_dumper(),
        default_flow_style=False,
        sort_keys=False,
        width=4096,  # never fold long strings: what is written is what was rendered
        allow_unicode=True,
    )


@functools.cache
def _dumper() -> Any:
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):  # type: ignore[misc, valid-type]
        def ignore_aliases(self, data: Any) -> bool:
            return True  # no &anchors for shared sub-dicts

    def represent_str(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


def file_name(index: int, obj: Mapping[str, Any], width: int = 2) -> str:
    """NN-<kind>-<name>.yaml for the object at apply position `index`."""
    return f"{index:0{width}d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def render_all(release: Release) -> dict[str, str]:
    """{"<cluster>/NN-<kind>-<name>.yaml": YAML text} for every cluster of the release."""
    from llmctl.render.cluster import render_cluster_objects

    deployment = release.deployment
    files: dict[str, str] = {}
    for cluster in deployment.clusters:
        objects = render_cluster_objects(deployment, cluster.name, release.images)
        width = max(2, len(str(len(objects))))
        for i, obj in enumerate(objects, start=1):
            files[f"{cluster.name}/{file_name(i, obj, width)}"] = to_yaml(obj)
    return files


Owned = dict[str, dict[str, str | None]]  # owner (the spec's name) -> {path: sha256 written}


def _read_marker(root: Path) -> Owned | None:
    """Who owns which files of `root`, by the marker; None when there is no marker."""
    path = root / MARKER
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        owners = data.get("owners")
        if owners is None:  # a marker of an earlier llmctl: files without an owner or hashes
            files = data["files"]
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise TypeError("files is not a list of paths")
            return {"": dict.fromkeys(files)}
        if not isinstance(owners, dict) or not all(
            isinstance(fs, dict) and all(isinstance(k, str) for k in fs) for fs in owners.values()
        ):
            raise TypeError("owners is not a mapping of owner to files")
        return owners
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LlmctlError(
            f"{path} is not a valid llmctl render marker ({exc})",
            hint="delete it (and the files llmctl wrote) and render again, or use --force",
        ) from None


def _target(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if root.resolve() not in target.parents or rel.startswith("/"):
        raise LlmctlError(f"render path escapes the output directory: {rel}")
    return target


def _sha(content: str | bytes) -> str:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


def write_render_dir(
    out: Path, files: Mapping[str, str | bytes], force: bool, owner: str = ""
) -> WriteResult:
    """Write `files` (relative path -> text or bytes) under `out` for `owner` (the spec's name).

    Each spec owns what it wrote there, by the marker: a render removes only files that the
    same spec wrote before, no longer renders, and that nobody changed since (same hash); it
    never overwrites another spec's file with different content, or a file it did not write,
    without `force`."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise LlmctlError(
            f"{root} exists and is not a directory", hint="choose another output path"
        )
    owners = _read_marker(root) if root.exists() else None
    if owners is None and root.exists() and any(root.iterdir()) and not force:
        raise LlmctlError(
            f"{root} is not empty and was not written by `llmctl render`",
            hint="choose an empty directory, or pass --force to write into it "
            "(files llmctl does not render are left alone)",
        )
    owners = dict(owners or {})
    mine = owners.pop(owner, {})
    legacy = owners.pop("", {}) if owner else {}  # files of an earlier llmctl: taken over
    others = {rel: name for name, fs in owners.items() for rel in fs}
    hashes = {rel: _sha(content) for rel, content in files.items()}
    for rel in sorted(files):
        target = _target(root, rel)
        other = others.get(rel)
        if other is not None and owners[other][rel] != hashes[rel] and not force:
            raise LlmctlError(
                f"{target} was written by the render of {other}, with other content",
                hint="render each spec into a directory of its own, or pass --force",
            )
        unowned = rel not in mine and rel not in legacy and other is None
        if target.exists() and unowned and not force:
            raise LlmctlError(
                f"{target} exists and was not written by `llmctl render`",
                hint="move it away, or pass --force to overwrite it",
            )
    removed, kept = [], []
    for rel in sorted(set(mine) - set(files) - set(others)):
        target = _target(root, rel)
        if not target.is_file():
            continue
        if mine[rel] is None or _sha(target.read_bytes()) != mine[rel]:
            kept.append(rel)  # changed since llmctl wrote it (or a hand-edited marker): keep
            continue
        target.unlink()
        removed.append(rel)
        parent = target.parent
        while parent != root.resolve() and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()  # a cluster directory left empty by a removed cluster
            parent = parent.parent
    root.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files):
        target = _target(root, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        content = files[rel]
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    owners[owner] = {**{rel: mine[rel] for rel in kept}, **hashes}
    left: dict[str, str | None] = {rel: None for rel in legacy if rel not in files}
    if left:
        owners[""] = left
    marker = {
        "llmctl_version": __version__,
        "files": sorted({rel for fs in owners.values() for rel in fs}),
        "owners": {name: dict(sorted(fs.items())) for name, fs in sorted(owners.items())},
    }
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return WriteResult(written=tuple(sorted(files)), removed=tuple(removed), kept=tuple(kept))
