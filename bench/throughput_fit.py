"""Refit the throughput model's constants (llmctl/cost/throughput.py) from the kit's measurements.

usage: .venv/bin/python bench/throughput_fit.py

Least squares on the relative error of the step time, c / (output tok/s), against
a + (bytes read) / (e x bandwidth) + (FLOPs) / (f x peak FLOPS), over the measured points that
are not server-bound; then the same with each model left out, to see how well a model the fit
has not seen is predicted. The measurements are those of tests/cost/test_throughput.py (vLLM
0.26.0, one H200, bf16, 512 in / 256 out).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cost")]

from test_throughput import MEASURED  # noqa: E402

from llmctl import catalog  # noqa: E402
from llmctl.cost import throughput as t  # noqa: E402

GIB = 1024**3
SERVER_BOUND = {("meta-llama/Llama-3.2-1B-Instruct", 256)}  # GPU terms allow 3x more


def features(source: str, c: int) -> list[float]:
    m = catalog.find_model(source)
    assert m is not None
    h200 = catalog.find_gpu("H200-141GB")
    assert h200 is not None
    kv = 2 * m.layers * m.kv_heads * m.head_dim * 2
    weights = m.params_b * 1e9 * 2
    context = t.PROMPT_TOKENS + t.OUTPUT_TOKENS / 2
    memory = (weights + c * context * kv) / (h200.bandwidth_gbps * 1e9)
    flops = c * 2 * m.params_b * 1e9 * (1 + t.PROMPT_TOKENS / t.OUTPUT_TOKENS)
    return [1.0, memory, flops / (h200.bf16_tflops * 1e12)]


def fit(sources: list[str]) -> list[float]:
    rows = []
    for s in sources:
        for c, runs in MEASURED[s].items():
            if (s, c) in SERVER_BOUND:
                continue
            step = c / (sum(runs) / len(runs))
            rows.append([x / step for x in features(s, c)])
    n = 3
    a = [
        [sum(r[i] * r[j] for r in rows) for j in range(n)] + [sum(r[i] for r in rows)]
        for i in range(n)
    ]
    for i in range(n):  # Gauss-Jordan on the normal equations
        a[i] = [v / a[i][i] for v in a[i]]
        for k in range(n):
            if k != i:
                a[k] = [x - a[k][i] * y for x, y in zip(a[k], a[i], strict=True)]
    return [a[i][n] for i in range(n)]


def show(x: list[float]) -> str:
    return f"step {x[0] * 1e3:.2f} ms, memory eff {1 / x[1]:.2f}, compute eff {1 / x[2]:.2f}"


def main() -> None:
    sources = list(MEASURED)
    print("all models:", show(fit(sources)))
    for out in sources:
        x = fit([s for s in sources if s != out])
        errors = []
        for c, runs in MEASURED[out].items():
            f = features(out, c)
            predicted = min(
                c / sum(k * v for k, v in zip(x, f, strict=True)), t.SERVER_TOKENS_PER_SECOND
            )
            errors.append(f"c{c} {predicted / (sum(runs) / len(runs)) - 1:+.0%}")
        print(f"without {out}: {show(x)}; {out}: {', '.join(errors)}")


if __name__ == "__main__":
    main()
