"""One truth per output: status says where its figures come from the same way at every level, a
`warn` budget overage is said once (issue 10, point 10)."""

from __future__ import annotations

import json

from tests.conftest import example


def test_status_of_a_never_applied_deployment_says_none_everywhere(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    assert cli("init", "-f", str(spec))[0] == 0
    code, out, _ = cli("status", "-f", str(spec), "--json")
    data = json.loads(out)
    assert code == 0 and data["revision"] is None
    sources = {data["source"]} | {c["source"] for c in data["clusters"]}
    sources |= {p["source"] for m in data["models"] for p in m["placements"]}
    assert sources == {"none"}
    code, out, _ = cli("status", "-f", str(spec))
    assert "nothing applied yet" in out and "not deployed, desired 2" in out
    assert "last-apply" not in out and "? ready" not in out


def test_a_warn_budget_overage_is_said_once(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(
        example("quickstart").read_text() + "budget:\n  monthly_usd: 1\n  on_exceed: warn\n"
    )
    for command in ("plan", "cost"):
        code, out, err = cli(command, "-f", str(spec))
        assert code == 0
        assert (out + err).count("exceeds the budget of 1 USD") == 1, command


def test_cost_says_once_that_prometheus_is_unreachable_and_how_to_point_it(cli, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LLMCTL_PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("COLUMNS", "80")
    code, _, err = cli("cost", "-f", str(example("hybrid")))
    assert code == 0
    assert err.count("not reachable from here") == 1 and f"127.0.0.1:{port}" in err
    assert "--prometheus-url" in err and "Errno" not in err
    assert all(len(line) <= 80 for line in err.splitlines())
