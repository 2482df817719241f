"""Every flag each supported vLLM version's `vllm serve` accepts, from vllm_flags.json (generated
by scripts/gen_vllm_flags.py from the versions' own wheels). Used at compile time to warn about
`extra_args` a version would refuse; not copied into the image."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path


@cache
def accepted_flags(version: str) -> frozenset[str]:
    """The `--flag` names vLLM `version` accepts (empty for a version the table lacks)."""
    table = json.loads(Path(__file__).with_name("vllm_flags.json").read_text(encoding="utf-8"))
    row = table["versions"].get(version)
    return frozenset(row["flags"]) if row else frozenset()


def unknown_flags(version: str, args: list[str] | tuple[str, ...]) -> list[str]:
    """The `--flags` of `args` that vLLM `version` does not define (`--flag=value`, `--flag_name`
    and the `--no-` form of a boolean flag are understood)."""
    if not any(arg.startswith("--") for arg in args):
        return []  # the common case: no need to read the table
    accepted = accepted_flags(version)
    if not accepted:
        return []
    unknown = []
    for arg in args:
        if not arg.startswith("--"):
            continue
        name = "--" + arg[2:].split("=", 1)[0].replace("_", "-")
        if name in accepted or (name.startswith("--no-") and "--" + name[5:] in accepted):
            continue
        unknown.append(name)
    return unknown
