"""Every `--json` command prints a JSON document on failure too (issue 10, point 8)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import example


@pytest.fixture
def invalid(tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(example("quickstart").read_text().replace("gpu_hour_usd", "gpu_hour_usdd"))
    return spec


def test_validate_json_on_a_missing_file(cli, tmp_path):
    code, out, err = cli("validate", "-f", str(tmp_path / "nope.yaml"), "--json")
    data = json.loads(out)
    assert code == 1 and data["valid"] is False
    assert "no such file" in data["errors"][0]["message"]
    assert data["error"]["exit_code"] == 1 and "llmctl init" in data["error"]["hint"]
    assert "no such file" in err  # the human line still goes to stderr


@pytest.mark.parametrize("command", ["plan", "status", "cost", "render", "apply"])
def test_json_commands_on_an_invalid_spec(cli, invalid, tmp_path, command):
    extra = {"render": ["-o", str(tmp_path / "out")], "apply": ["--yes"]}.get(command, [])
    code, out, _ = cli(command, "-f", str(invalid), "--json", *extra)
    data = json.loads(out)
    assert code == 1
    assert data["error"]["message"] == "1 error in the spec"
    (error,) = data["errors"]
    assert "unknown key 'gpu_hour_usdd'" in error["message"] and error["line"] > 0
    assert "valid" not in data


def test_a_command_that_printed_its_json_prints_no_second_document(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(
        example("quickstart").read_text() + "budget:\n  monthly_usd: 1\n  on_exceed: block\n"
    )
    code, out, _ = cli("cost", "-f", str(spec), "--json")
    assert code == 3
    assert json.loads(out)["budget"]["status"] == "block"  # one document: json.loads would fail
