"""Fixtures for the cost estimate, its report and `llmctl cost`.

The real Prometheus server (tests/metrics/conftest.py) and the moto server with its Cost Explorer
canned results (tests/cost_aws/conftest.py) are imported from their own conftests, not copied.
`aws_env` there is not imported: it would give every test here fake AWS credentials, and a spec
with an s3:// state would then try to reach the real S3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import example
from tests.cost_aws.conftest import moto_api, moto_server, set_ce_results  # noqa: F401
from tests.metrics.conftest import PrometheusServer, prometheus  # noqa: F401

__all__ = ["PrometheusServer", "moto_api", "set_ce_results"]


def local_copy(tmp_path: Path, name: str, extra: str = "",
               replace: dict[str, str] | None = None) -> Path:
    """examples/<name>/llm.yaml in tmp_path, without `state:` and `monitoring:` (so nothing but
    loopback is ever contacted), with `replace` substitutions and `extra` YAML appended."""
    lines = example(name).read_text().splitlines(keepends=True)
    out, skip = [], False
    for line in lines:
        if line.startswith(("state:", "monitoring:")):
            skip = line.startswith("monitoring:")
            continue
        if skip and line.startswith(" "):
            continue
        skip = False
        out.append(line)
    text = "".join(out)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def spec_copy(tmp_path: Path):
    """local_copy() bound to this test's tmp_path."""
    return lambda name, extra="", replace=None: local_copy(tmp_path, name, extra, replace)
