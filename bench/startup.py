"""Start-up benchmark: `llmctl --help` and `llmctl validate` against a bare `python -c pass`.

Prints the median of N runs of each, and the ratio to the bare interpreter (target: --help <= 3x).
Run: .venv/bin/python bench/startup.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(args: list[str], n: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    home = tempfile.mkdtemp(prefix="llmctl-bench-")
    env = {**os.environ, "LLMCTL_HOME": home}
    py = sys.executable
    spec = str(ROOT / "examples" / "hybrid" / "llm.yaml")
    subprocess.run(
        [py, "-m", "llmctl", "--help"], stdout=subprocess.DEVNULL, env=env, check=True
    )  # warm
    rows = [
        ("python -c pass", [py, "-c", "pass"], env),
        ("llmctl --help (cached)", [py, "-m", "llmctl", "--help"], env),
        (
            "llmctl --help (no cache)",
            [py, "-m", "llmctl", "--help"],
            {**env, "LLMCTL_NO_HELP_CACHE": "1"},
        ),
        ("llmctl validate (hybrid)", [py, "-m", "llmctl", "validate", "-f", spec], env),
    ]
    base = None
    print(f"{'command':<28} {'median':>9} {'x bare':>7}   (n={n})")
    for name, args, e in rows:
        t = median_seconds(args, n, e)
        base = base or t
        print(f"{name:<28} {t * 1000:>7.1f}ms {t / base:>6.2f}x")


if __name__ == "__main__":
    main()
