"""LOAD: positions, syntax errors, unknown keys, secrets; every error at FILE:LINE:COL with a hint."""

from __future__ import annotations

import pytest

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid

BASE = """\
version: 1
name: t
clusters:
  - name: c
    kubernetes: {context: x}
    pools:
      - name: p
        gpu: {model: L40S, per_node: 4}
        nodes: 2
models:
  - name: m
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: 0e9e39f249a16976918f6564b8830bc894c89659
    placements:
      - pool: c/p
        replicas: 2
    rollout: {strategy: rolling}
"""


def errors_of(tmp_path, text: str | bytes) -> list:
    path = tmp_path / "llm.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SpecInvalid) as info:
        compile_file(path)
    return info.value.diagnostics


def test_base_spec_is_valid(tmp_path):
    path = tmp_path / "llm.yaml"
    path.write_text(BASE)
    compiled = compile_file(path)
    assert compiled.deployment.models[0].gpus == 1
    # Two replicas, each compiling in its own pod; no API keys (said once: issue 14, item 12).
    cold, w = compiled.warnings
    assert "every pod after the first compiles cold" in cold.message
    assert "compile_cache: {storage_class: NAME}" in cold.hint
    assert "without authentication" in w.message and "allow_unauthenticated" in w.hint
    shared = BASE.replace(
        "    kubernetes: {context: x}\n",
        "    kubernetes: {context: x}\n    compile_cache: {storage_class: nfs}\n",
    )
    path.write_text(shared + "gateway: {allow_unauthenticated: true}\n")
    assert compile_file(path).warnings == []


def test_unknown_key_points_at_the_key_with_a_suggestion(tmp_path):
    [d] = errors_of(
        tmp_path, BASE.replace("        nodes: 2", "        nodez: 2\n        nodes: 2")
    )
    assert (d.line, d.column) == (9, 9)
    assert "unknown key 'nodez'" in d.message
    assert d.hint == "did you mean 'nodes'?"


def test_type_error_points_at_the_value(tmp_path):
    [d] = errors_of(tmp_path, BASE.replace("replicas: 2", "replicas: lots"))
    assert (d.line, d.column) == (16, 19)
    assert "replicas" in d.message


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    [d] = errors_of(tmp_path, "version: 1\nname: [unclosed\nclusters: x\n")
    assert d.line == 2 and "the `[` opened at line 2 is not closed" in d.message


def test_duplicate_key_is_an_error(tmp_path):
    [d] = errors_of(tmp_path, BASE + "name: again\n")
    assert "duplicate key" in d.message and d.line == 18


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("- a\n- b\n", "top level is a list"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfe\xfa", "UTF-8"),
        ("just a string", "top level is a str"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path, text, words):
    [d] = errors_of(tmp_path, text)
    assert words in d.message


def test_huge_file_is_refused(tmp_path):
    [d] = errors_of(tmp_path, BASE + "#" * (3 * 1024 * 1024))
    assert "KiB" in d.message


def test_several_errors_in_one_pass(tmp_path):
    text = (
        BASE.replace("L40S", "L40X")
        .replace("c/p\n", "c/q\n")
        .replace("name: t", "name: t\nlabelz: {}")
    )
    diags = errors_of(tmp_path, text)
    messages = " | ".join(d.message for d in diags)
    assert "unknown key 'labelz'" in messages
    assert "unknown GPU model 'L40X'" in messages
    assert len(diags) >= 2


def test_inline_secret_is_an_error_and_never_echoed(tmp_path):
    secret = "sk-" + "a1b2c3d4" * 4
    diags = errors_of(tmp_path, BASE + f"gateway:\n  api_key: {secret}\n")
    [d] = [d for d in diags if "secret" in d.message]
    assert d.line == 19 and "secret_env" in d.hint
    assert secret not in d.message
    from llmctl.cli.output import format_diagnostic

    shown = format_diagnostic(d, (tmp_path / "llm.yaml").read_text())
    assert secret not in shown and "***" in shown


def test_hf_token_value_anywhere_is_caught(tmp_path):
    token = "hf_" + "x" * 34
    diags = errors_of(tmp_path, BASE.replace("name: m\n", f"name: m\n    served_name: {token}\n"))
    assert any("Hugging Face token" in d.message for d in diags)


def test_missing_required_field(tmp_path):
    diags = errors_of(tmp_path, BASE.replace("version: 1\n", ""))
    assert any(d.message == "version is required" for d in diags)
