"""`llmctl --help` and `llmctl validate` load no pulumi, boto3 or jinja2 (startup cost)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, example

HEAVY = ("pulumi", "boto3", "botocore", "jinja2", "pulumi_aws", "pulumi_kubernetes")

PROBE = """
import json, sys
sys.argv = ["llmctl", *sys.argv[1:]]
from llmctl.cli.main import run
try:
    run()
except SystemExit:
    pass
sys.stderr.write("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy})))
"""


def loaded(*args: str) -> list[str]:
    code = PROBE.replace("{heavy}", repr(set(HEAVY)))
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT
    )
    marker = result.stderr.rsplit("MODULES=", 1)[1]
    return json.loads(marker)


def test_help_loads_no_heavy_modules():
    assert loaded("--help") == []


def test_validate_loads_no_heavy_modules():
    assert loaded("validate", "-f", str(example("hybrid"))) == []


def test_cached_root_help_equals_the_live_help(tmp_path):
    env = {**__import__("os").environ, "LLMCTL_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "100"}
    args = [sys.executable, "-m", "llmctl", "--help"]
    live = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    assert list((tmp_path / "cache").glob("help-*.txt")), "the first --help writes the cache"
    cached = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    assert live.returncode == cached.returncode == 0
    assert cached.stdout == live.stdout and "validate" in cached.stdout
