"""validate / init / schema through the real entry point: output, JSON shape, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, ROOT, example


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_validates(cli, name):
    code, out, err = cli("validate", "-f", str(example(name)), "--json")
    assert code == 0, err
    assert json.loads(out)["valid"] is True


def test_validate_json_on_invalid_spec(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text("version: 2\nname: x\n")
    code, out, _ = cli("validate", "-f", str(spec), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False
    assert {"file", "line", "column", "message", "hint"} <= set(data["errors"][0])
    assert data["errors"][0]["line"] == 1


def test_validate_human_output_has_location_excerpt_and_hint(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(example("quickstart").read_text().replace("gpu_hour_usd", "gpu_hour_usdd"))
    code, out, err = cli("validate", "-f", str(spec))
    assert code == 1
    assert f"{spec}:" in err and "unknown key 'gpu_hour_usdd'" in err
    assert "^" in err and "hint: did you mean 'gpu_hour_usd'?" in err
    assert "Traceback" not in err


def test_missing_file_is_a_clear_error(cli, tmp_path):
    code, _, err = cli("validate", "-f", str(tmp_path / "nope.yaml"))
    assert code == 1 and "no such file" in err and "llmctl init" in err


def test_default_file_is_llm_yaml_in_cwd(cli, tmp_path):
    (tmp_path / "llm.yaml").write_text(example("quickstart").read_text())
    code, out, _ = cli("validate", cwd=tmp_path)
    assert code == 0 and "llm.yaml: valid" in out


@pytest.mark.parametrize("target", ["kubernetes", "aws", "hybrid"])
def test_init_writes_a_valid_commented_spec_and_never_overwrites(cli, tmp_path, target):
    spec = tmp_path / "llm.yaml"
    code, _, err = cli("init", "--target", target, "-f", str(spec))
    assert code == 0, err
    text = spec.read_text()
    assert text.startswith("# yaml-language-server: $schema=") and "llm.schema.json" in text
    code, out, err = cli("validate", "-f", str(spec), "--json")
    assert code == 0, out + err
    code, _, err = cli("init", "--target", target, "-f", str(spec))
    assert code == 1 and "already exists" in err
    assert spec.read_text() == text


def test_schema_is_the_bundled_file_and_describes_every_field(cli):
    code, out, _ = cli("schema")
    assert code == 0
    schema = json.loads(out)
    from llmctl.resources import schema_path

    assert json.loads(schema_path().read_text()) == schema, (
        "run: llmctl schema > llmctl/schema/llm.schema.json"
    )

    def walk(node, where):
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop, f"{where}.{name} has no description"
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(schema, "schema")


def test_version_and_help(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("llmctl ")
    code, out, _ = cli("--help")
    assert code == 0 and "validate" in out


def test_every_command_has_help_and_readme_docs(cli):
    import typer.main

    from llmctl.cli.main import app

    group = typer.main.get_command(app)
    readme = (ROOT / "README.md").read_text()
    for name, command in group.commands.items():
        assert command.help, f"`llmctl {name}` has no help"
        assert f"llmctl {name}" in readme, f"README does not document `llmctl {name}`"


def test_no_traceback_on_internal_error_without_debug(tmp_path):
    # A spec path that is a directory exercises the OS-error path through the real console script.
    result = subprocess.run(
        [sys.executable, "-m", "llmctl", "validate", "-f", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "is a directory" in result.stderr and "Traceback" not in result.stderr


def test_every_command_and_subcommand_answers_help(cli):
    import typer.main

    from llmctl.cli.main import app

    def walk(command, path: tuple[str, ...]):
        yield path
        if hasattr(command, "commands"):  # a group (typer ships its own copy of click)
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))

    paths = list(walk(typer.main.get_command(app), ()))
    assert ("rollout", "resume") in paths and ("image", "build") in paths
    for path in paths:
        code, out, err = cli(*path, "--help")
        assert code == 0, (path, err)
        assert "Usage:" in out, path


@pytest.mark.parametrize(
    "args, words", [(("validate", "--bogus"), "No such option: --bogus"), (("nosuch",), "No such command")]
)
def test_usage_errors_exit_1_with_the_usage_not_a_traceback(cli, args, words):
    code, out, err = cli(*args)
    assert code == 1
    assert words in err and "Usage: llmctl" in err
    assert "internal error" not in err and "Traceback" not in err


def test_no_arguments_shows_help_and_exits_0(cli):
    code, out, err = cli()
    assert code == 0 and "Usage: llmctl" in out + err


def test_an_unwritable_output_path_is_a_clear_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli("init", "-f", str(blocker / "llm.yaml"))  # a file where a directory must be
    assert code == 1 and str(blocker) in err and "internal error" not in err
