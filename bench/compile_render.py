"""Compile + render benchmark: generated specs of 50, 200 and 500 models across 20 pools.

Prints load (YAML + validation), compile and render times per size, and the time per model, so
linear growth shows as a flat last column. Run: .venv/bin/python bench/compile_render.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

MODELS = [
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
]
CLUSTERS, POOLS_PER_CLUSTER = 4, 5  # 20 pools


def generate(n_models: int) -> str:
    """A valid spec with n_models models spread over 20 pools of 4 clusters."""
    lines = ["version: 1", "name: bench", "clusters:"]
    for c in range(CLUSTERS):
        lines += [f"  - name: c{c}", f"    kubernetes: {{context: ctx{c}}}", "    pools:"]
        for p in range(POOLS_PER_CLUSTER):
            lines += [
                f"      - name: p{p}",
                "        gpu: {model: H100-80GB, per_node: 8}",
                "        nodes: 8",
                "        gpu_hour_usd: 2.0",
            ]
    lines.append("models:")
    for m in range(n_models):
        pool = m % (CLUSTERS * POOLS_PER_CLUSTER)
        lines += [
            f"  - name: m{m}",
            f"    source: hf://{MODELS[m % len(MODELS)]}",
            "    revision: 0e9e39f249a16976918f6564b8830bc894c89659",
            "    gpus: 1",
            f"    placements: [{{pool: c{pool // POOLS_PER_CLUSTER}/p{pool % POOLS_PER_CLUSTER}, replicas: 2}}]",
            "    rollout: {strategy: rolling}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    from llmctl.compile import compile_spec
    from llmctl.release import make_release
    from llmctl.render.writer import render_all
    from llmctl.spec.loader import parse_source, validate_structure

    sizes = [int(a) for a in sys.argv[1:]] or [50, 200, 500]
    render_all(
        make_release(compile_spec(*_load(generate(5), parse_source, validate_structure)).deployment)
    )  # warm
    print(
        f"{'models':>6} {'load':>8} {'compile':>8} {'render':>8} {'total':>8} {'ms/model':>9} {'objects':>8}"
    )
    for n in sizes:
        text = generate(n)
        t0 = time.perf_counter()
        spec, source = _load(text, parse_source, validate_structure)
        t1 = time.perf_counter()
        deployment = compile_spec(spec, source).deployment
        t2 = time.perf_counter()
        files = render_all(make_release(deployment))
        t3 = time.perf_counter()
        total = t3 - t0
        print(
            f"{n:>6} {t1 - t0:>7.2f}s {t2 - t1:>7.2f}s {t3 - t2:>7.2f}s {total:>7.2f}s "
            f"{total / n * 1000:>8.1f} {len(files):>8}"
        )


def _load(text, parse_source, validate_structure):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "llm.yaml"
        path.write_text(text)
        source = parse_source(path.read_bytes(), str(path))
    spec, diags = validate_structure(source)
    assert spec is not None and not diags, diags
    return spec, source


if __name__ == "__main__":
    main()
