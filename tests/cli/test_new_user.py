"""What a new user meets first: --debug, doctor, init's schema line, global options, help at 80
columns (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, example


@pytest.fixture
def bad_spec(tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(example("quickstart").read_text().replace("gpu_hour_usd", "gpu_hour_usdd"))
    return spec


def test_debug_shows_the_diagnostic_first_then_the_traceback(cli, bad_spec):
    code, _, err = cli("--debug", "validate", "-f", str(bad_spec))
    assert code == 1
    located = err.index(f"{bad_spec}:")
    assert "unknown key 'gpu_hour_usdd'" in err and "^" in err
    assert "hint: did you mean 'gpu_hour_usd'?" in err
    assert located < err.index("Traceback (most recent call last)")


def test_engine_output_is_shown_with_debug(cli, monkeypatch, tmp_path):
    from llmctl.cli import commands_spec
    from llmctl.errors import EngineError

    def fail(*_a, **_k):
        raise EngineError("preview of stack s failed", hint="h", detail="ENGINE LOG LINE")

    monkeypatch.setattr(commands_spec, "validate", fail)
    monkeypatch.setattr("llmctl.compile.compile_file", fail)
    code, _, err = cli("validate", "-f", str(tmp_path / "x.yaml"))
    assert code == 1 and "ENGINE LOG LINE" not in err
    code, _, err = cli("validate", "--debug", "-f", str(tmp_path / "x.yaml"))
    assert code == 1 and "preview of stack s failed" in err and "ENGINE LOG LINE" in err


@pytest.mark.parametrize("flag", ["--no-color", "--debug"])
def test_global_options_work_after_the_subcommand(cli, bad_spec, flag):
    from llmctl.cli import output

    code, _, err = cli("validate", "-f", str(bad_spec), flag)
    assert code == 1 and "No such option" not in err and "unknown key" in err
    assert output._state[flag.lstrip("-").replace("-", "_")] is True
    assert ("Traceback" in err) == (flag == "--debug")


def _help_commands():
    import typer.main

    from llmctl.cli.main import app

    def walk(command, path):
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


@pytest.mark.parametrize("path", [p for p, _ in _help_commands()], ids=" ".join)
def test_help_reads_cleanly_at_80_columns(path):
    env = {**os.environ, "COLUMNS": "80", "LLMCTL_NO_HELP_CACHE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "llmctl", *path, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    ).stdout
    assert "Usage: llmctl" in out
    assert "<bool>" not in out, "a flag shows a value type"
    assert max(len(line) for line in out.splitlines()) <= 80


def test_every_command_summary_is_one_unbroken_paragraph():
    for path, command in _help_commands():
        first = (command.help or "").strip().split("\n\n")[0]
        assert "\n" not in first, f"`llmctl {' '.join(path)}` summary breaks mid-sentence"


def test_init_schema_line_works_in_any_clone(cli, tmp_path):
    spec = tmp_path / "team" / "llm.yaml"
    code, out, err = cli("init", "-f", str(spec))
    assert code == 0, err
    first = spec.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=llm.schema.json"
    assert str(ROOT) not in spec.read_text() and "site-packages" not in spec.read_text()
    _, schema, _ = cli("schema")
    assert json.loads((spec.parent / "llm.schema.json").read_text()) == json.loads(schema)
    assert "llm.schema.json" in out


def kubernetes_spec(tmp_path):
    (tmp_path / "llm.yaml").write_text(example("quickstart").read_text())
    return tmp_path


def test_doctor_reads_llm_yaml_by_default(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi, no docker, no aws
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope" / "config"))
    code, out, _ = cli("doctor", "--json", cwd=kubernetes_spec(tmp_path))
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["spec"]["ok"] and checks["aws credentials"]["ok"]
    assert "not needed" in checks["aws credentials"]["detail"]
    assert "does not exist" in checks["kubeconfig"]["detail"]
    assert "no contexts" not in checks["kubeconfig"]["detail"]


def test_doctor_optional_checks_warn_and_do_not_fail(cli, tmp_path, monkeypatch):
    from llmctl.engine import doctor as doctor_module
    from llmctl.engine.doctor import Check

    monkeypatch.setattr(
        doctor_module, "_pulumi_checks", lambda _c: [Check("pulumi", True, "Pulumi CLI v3.200.0")]
    )
    monkeypatch.setattr(
        doctor_module, "_kubeconfig_check", lambda _d: Check("kubeconfig", True, "1 context")
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, no buildah
    code, out, _ = cli("doctor", cwd=kubernetes_spec(tmp_path))
    assert "warn  image builder" in out and "FAIL" not in out
    assert code == 0
    code, out, _ = cli("doctor", "--json", cwd=tmp_path)
    data = json.loads(out)
    builder = next(c for c in data["checks"] if c["name"] == "image builder")
    assert data["ok"] is True and builder["ok"] is False and builder["optional"] is True


def test_readme_first_steps_fit_80_columns_without_tracebacks(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no Pulumi CLI, no docker
    seen = ""
    for args in (
        ("init", "--target", "hybrid"),
        ("validate",),
        ("plan",),
        ("apply",),
        ("apply", "--yes"),
        ("status",),
    ):
        code, out, err = cli(*args, cwd=tmp_path)
        seen += out + err
        assert code in (0, 1), (args, err)
    assert "Traceback" not in seen and "internal error" not in seen
    too_wide = [line for line in seen.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
