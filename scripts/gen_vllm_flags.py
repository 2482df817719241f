#!/usr/bin/env python3
"""Generate llmctl's vLLM flag table from each supported version's own wheel.

For every vLLM version llmctl supports (the newest patch of each minor 0.10 .. 0.33, plus the
versions earlier llmctl releases pinned, so stored revisions still render), this reads the few
source files that define `vllm serve`'s arguments straight out of the PyPI wheel with HTTP range
requests on the wheel's zip (central directory, then each file's bytes: a few hundred KiB per
version instead of a 300-500 MiB download; nothing is kept on disk), parses them with `ast`
(nothing from vLLM is imported or run), and writes:

- llmctl/serving/vllm_flags.json: per version, the wheel, the files read and every flag
  `vllm serve` accepts (the test suite checks llmctl's argv against it);
- llmctl/serving/vllm_versions.py: the compact table the launcher uses (stdlib only, copied
  into the serving image): per version, which of llmctl's managed flags it has.

Flags are collected from `add_argument("--flag", ...)` calls, and from the fields of the
dataclasses whose `add_cli_args` turns every field into `--field-name` (vLLM's FrontendArgs).
Boolean `--no-...` forms are not listed.

Usage: .venv/bin/python scripts/gen_vllm_flags.py [--check] [--from-json]
  --check: fail if outputs differ; --from-json: rewrite vllm_versions.py from the stored
  vllm_flags.json (no download; for a change of MANAGED)
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import struct
import sys
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JSON_OUT = ROOT / "llmctl" / "serving" / "vllm_flags.json"
PY_OUT = ROOT / "llmctl" / "serving" / "vllm_versions.py"
PYPI = "https://pypi.org/pypi/vllm/json"
MINORS = range(10, 34)  # 0.10 .. 0.33
LEGACY = ("0.9.2", "0.11.0")  # pinned by earlier llmctl releases: stored revisions use them
# Where `vllm serve` starts, and the names whose defining modules are read after it.
SERVE = "vllm/entrypoints/cli/serve.py"
ARG_UTILS = "vllm/engine/arg_utils.py"
FOLLOW = {"make_arg_parser", "FrontendArgs", "BaseFrontendArgs", "AsyncEngineArgs", "EngineArgs"}
# The flags llmctl may emit, or must know about: the compact table records which exist.
MANAGED = (
    "--served-model-name",
    "--host",
    "--port",
    "--revision",
    "--download-dir",
    "--load-format",
    "--tensor-parallel-size",
    "--pipeline-parallel-size",
    "--max-model-len",
    "--dtype",
    "--quantization",
    "--kv-cache-dtype",
    "--gpu-memory-utilization",
    "--max-num-seqs",
    "--api-key",
    "--disable-log-requests",
    "--enable-log-requests",
    "--shutdown-timeout",
    "--disable-uvicorn-access-log",
    "--middleware",
    # multi-node replicas (one vLLM per node of a LeaderWorkerSet group)
    "--distributed-executor-backend",
    "--nnodes",
    "--node-rank",
    "--master-addr",
    "--master-port",
    "--headless",
)


def _get(url: str, byte_range: str | None = None) -> bytes:
    headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
        data: bytes = r.read()
    return data


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def select_versions(releases: dict[str, list[dict]]) -> list[str]:
    """The newest final release of each minor in MINORS that has a wheel, plus LEGACY."""
    finals = [
        v for v, files in releases.items() if re.fullmatch(r"0\.\d+\.\d+(\.\d+)?", v) and files
    ]
    chosen = set(LEGACY)
    for minor in MINORS:
        of_minor = [v for v in finals if _key(v)[1] == minor and len(_key(v)) == 3]
        if of_minor:
            chosen.add(max(of_minor, key=_key))
    return sorted(chosen, key=_key)


def _wheel(files: list[dict]) -> dict:
    # A plain wheel before a re-build (vllm-0.23.0-2-...): the same source either way.
    for f in sorted(files, key=lambda f: f["filename"].count("-")):
        if f["filename"].endswith(".whl") and "x86_64" in f["filename"]:
            return f
    raise SystemExit(f"no x86_64 wheel among {[f['filename'] for f in files]}")


def _central_directory(url: str, size: int) -> dict[str, tuple[int, int, int]]:
    """{name: (compression method, compressed size, local header offset)} of the wheel's zip."""
    tail = _get(url, f"{max(0, size - 65536)}-{size - 1}")
    end = tail.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", tail[end + 12 : end + 20])
    if cd_offset == 0xFFFFFFFF:  # zip64
        z64 = tail.rfind(b"PK\x06\x06")
        cd_size, cd_offset = struct.unpack("<QQ", tail[z64 + 40 : z64 + 56])
    cd = _get(url, f"{cd_offset}-{cd_offset + cd_size - 1}")
    entries: dict[str, tuple[int, int, int]] = {}
    pos = 0
    while cd[pos : pos + 4] == b"PK\x01\x02":
        (method,) = struct.unpack("<H", cd[pos + 10 : pos + 12])
        (csize,) = struct.unpack("<I", cd[pos + 20 : pos + 24])
        nlen, elen, clen = struct.unpack("<HHH", cd[pos + 28 : pos + 34])
        (offset,) = struct.unpack("<I", cd[pos + 42 : pos + 46])
        name = cd[pos + 46 : pos + 46 + nlen].decode()
        entries[name] = (method, csize, offset)
        pos += 46 + nlen + elen + clen
    return entries


def _read_member(url: str, entry: tuple[int, int, int]) -> str:
    method, csize, offset = entry
    head = _get(url, f"{offset}-{offset + 29}")
    nlen, elen = struct.unpack("<HH", head[26:30])
    start = offset + 30 + nlen + elen
    data = _get(url, f"{start}-{start + csize - 1}")
    raw = zlib.decompress(data, -15) if method == 8 else data
    return raw.decode("utf-8")


def _fields(cls: ast.ClassDef) -> list[str]:
    return [
        node.target.id
        for node in cls.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and not ast.unparse(node.annotation).startswith("ClassVar")
    ]


def _loops_over_fields(cls: ast.ClassDef) -> bool:
    """True when the class's add_cli_args makes `--field-name` of every field (an f-string)."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "add_cli_args":
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.JoinedStr)
                    and len(sub.values) == 2
                    and isinstance(sub.values[0], ast.Constant)
                    and sub.values[0].value == "--"
                ):
                    return True
    return False


def _imports(tree: ast.Module, names: set[str]) -> set[str]:
    """Wheel paths of the vllm modules `tree` imports any of `names` from."""
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("vllm")
            and any(a.name in names for a in node.names)
        ):
            out.add(node.module.replace(".", "/") + ".py")
    return out


def flags_in_sources(trees: list[ast.Module]) -> set[str]:
    """Every flag the modules define: add_argument literals and looped dataclass fields."""
    flags: set[str] = set()
    classes: dict[str, ast.ClassDef] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, node)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"
            ):
                flags.update(
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and arg.value.startswith("-")
                )

    def lineage(cls: ast.ClassDef) -> list[ast.ClassDef]:
        out = [cls]
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id != cls.name:
                out += lineage(classes[base.id])
        return out

    for cls in classes.values():
        family = lineage(cls)
        if any(_loops_over_fields(c) for c in family):
            for c in family:
                flags.update("--" + f.replace("_", "-") for f in _fields(c))
    return flags


def read_version(version: str, files: list[dict]) -> dict:
    """The accepted flags of one version, read from its wheel: `vllm serve`'s module, then the
    modules it takes its parser and argument classes from, and theirs."""
    wheel = _wheel(files)
    url = urllib.parse.urljoin(PYPI, wheel["url"])
    entries = _central_directory(url, wheel["size"])
    todo, read, trees = [SERVE, ARG_UTILS], [], []
    while todo:
        path = todo.pop(0)
        if path in read or path not in entries:
            continue
        tree = ast.parse(_read_member(url, entries[path]))
        read.append(path)
        trees.append(tree)
        todo += sorted(_imports(tree, FOLLOW))
    flags = flags_in_sources(trees)
    if "--port" not in flags or "--max-num-seqs" not in flags:
        raise SystemExit(f"vLLM {version}: argument definitions not found in {read}")
    return {
        "wheel": wheel["filename"],
        "sha256": wheel["digests"]["sha256"],
        "files": read,
        "flags": sorted(flags),
    }


def render_py(table: dict[str, dict]) -> str:
    """The compact, stdlib-only module the launcher reads: per version, the managed flags it
    lacks (most versions lack few, so the file stays small enough for a ConfigMap)."""
    lines = [
        '"""GENERATED by scripts/gen_vllm_flags.py from each version\'s wheel: do not edit.',
        "",
        "STDLIB ONLY (copied into the serving image and the serving ConfigMap). Per supported",
        "vLLM version, which of the flags llmctl manages `vllm serve` does NOT accept; the full",
        "accepted sets are in vllm_flags.json.",
        '"""',
        "",
        "MANAGED_FLAGS = (",
        *[f'    "{f}",' for f in MANAGED],
        ")",
        "",
        "# version -> managed flags it lacks, oldest version first",
        "LACKS: dict[str, tuple[str, ...]] = {",
    ]
    for version, row in table.items():
        missing = [f'"{f}"' for f in MANAGED if f not in row["flags"]]
        lacks = ", ".join(missing)
        line = f'    "{version}": ({lacks}{"," if len(missing) == 1 else ""}),'
        if len(line) > 100:  # as ruff format writes it: one flag a line
            line = "\n".join([f'    "{version}": (', *[f"        {f}," for f in missing], "    ),"])
        lines.append(line)
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the outputs would change")
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="re-render vllm_versions.py from the stored vllm_flags.json (no download)",
    )
    args = parser.parse_args()
    if args.from_json:
        stored = json.loads(JSON_OUT.read_text(encoding="utf-8"))["versions"]
        ordered = {v: stored[v] for v in sorted(stored, key=_key)}
        PY_OUT.write_text(render_py(ordered), encoding="utf-8")
        print(f"wrote {PY_OUT.relative_to(ROOT)} from {JSON_OUT.relative_to(ROOT)}")
        return 0
    releases = json.loads(_get(PYPI))["releases"]
    table = {}
    for version in select_versions(releases):  # oldest first: the launcher's order
        table[version] = read_version(version, releases[version])
        print(f"{version}: {len(table[version]['flags'])} flags from {table[version]['wheel']}")
    doc = {
        "generated_by": "scripts/gen_vllm_flags.py",
        "source": "PyPI wheels of vllm, argument definitions read from source (no import)",
        "versions": table,
    }
    outputs = {JSON_OUT: json.dumps(doc, indent=1, sort_keys=True) + "\n", PY_OUT: render_py(table)}
    if args.check:
        stale = [str(p) for p, text in outputs.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
