"""The launcher as a real subprocess against the STAND-IN `vllm` (tests/serving/standin_vllm.py).

Nothing here runs real vLLM: the stand-in records argv, environment and signals, and for a
given version rejects flags the way that version's `vllm serve` parser would.
"""

from __future__ import annotations

import ast
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmctl.image import render_image_context, write_image_context
from llmctl.serving import flags
from llmctl.serving.launcher import mask_argv

Factory = Callable[..., dict[str, Any]]
API_KEY = "sk-test-4f1c9a0d2b7e"
HF_TOKEN = "hf_test_Zq8Lr2Xv5Nm1"
SERVING_DIR = Path(flags.__file__).parent
# The versions the stand-in parses like (its flag lists are written by hand, per version).
STANDIN_VERSIONS = ("0.9.2", "0.10.2", "0.11.0", "0.17.1", "0.18.1", "0.26.0", "0.33.0")


def _events(logs: list[dict[str, Any]]) -> list[str]:
    return [rec["event"] for rec in logs]


def _by_event(logs: list[dict[str, Any]], event: str) -> dict[str, Any]:
    return next(rec for rec in logs if rec["event"] == event)


@pytest.mark.parametrize("version", STANDIN_VERSIONS)
def test_standin_of_each_version_accepts_the_argv(
    version: str, launch: Any, hf_config: Factory
) -> None:
    config = hf_config(vllm_version=version)
    run = launch(config, env={"VLLM_API_KEY": API_KEY}, version=version)
    code, err, logs = run.finish()
    assert code == 0, err
    assert run.record()["argv"] == ["serve", *flags.build_serve_args(config)]
    assert _events(logs)[-1] == "vllm_exited"


@pytest.mark.parametrize("version", STANDIN_VERSIONS)
def test_s3_source_streams_through_the_standin(
    version: str, launch: Any, s3_config: Factory
) -> None:
    run = launch(s3_config(vllm_version=version), env={"VLLM_API_KEY": API_KEY}, version=version)
    code, err, logs = run.finish()
    assert code == 0, err
    argv = run.record()["argv"]
    assert argv[1] == "s3://acme-models/llama-3.1-8b-instruct"
    assert argv[argv.index("--load-format") + 1] == "runai_streamer"
    assert "HF_HOME" not in run.record()["env"]  # nothing is downloaded from the Hub
    plan = _by_event(logs, "serve_plan")["fields"]
    assert plan["load_mode"] == "stream" and plan["model_ref"] == argv[1]


def test_hf_download_pins_revision_and_caches_in_the_volume(
    launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, version="0.11.0")
    code, err, _ = run.finish()
    assert code == 0, err
    record = run.record()
    argv = record["argv"]
    assert argv[1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert argv[argv.index("--revision") + 1] == "0e9e39f249a16976918f6564b8830bc894c89659"
    assert argv[argv.index("--download-dir") + 1] == "/models"
    assert record["env"]["HF_HOME"] == "/models"


def test_extra_args_reach_vllm_last(launch: Any, hf_config: Factory) -> None:
    extra = ["--enable-prefix-caching", "--seed", "7"]
    run = launch(hf_config(extra_args=extra), env={"VLLM_API_KEY": API_KEY}, version="0.11.0")
    code, err, _ = run.finish()
    assert code == 0, err
    assert run.record()["argv"][-3:] == extra


def test_a_flag_the_version_lacks_fails_like_vllm_and_the_code_propagates(
    launch: Any, hf_config: Factory
) -> None:
    # --shutdown-timeout only exists from vLLM 0.18: a 0.11.0 parser rejects it with exit 2.
    config = hf_config(extra_args=["--shutdown-timeout", "30"])
    run = launch(config, env={"VLLM_API_KEY": API_KEY}, version="0.11.0")
    code, err, logs = run.finish()
    assert code == 2
    assert "unrecognized arguments: --shutdown-timeout" in err
    assert _by_event(logs, "vllm_exited")["fields"]["exit_code"] == 2


@pytest.mark.parametrize("exit_code", [0, 1, 3])
def test_exit_code_of_vllm_is_the_launchers(
    exit_code: int, launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, exit_code=exit_code)
    code, _, logs = run.finish()
    assert code == exit_code
    exited = _by_event(logs, "vllm_exited")
    assert exited["fields"] == {"exit_code": exit_code, "signal": None}
    assert exited["level"] == ("info" if exit_code == 0 else "error")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_termination_signals_are_forwarded(
    signum: signal.Signals, launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, behavior="serve", exit_code=0)
    run.wait_started()
    run.proc.send_signal(signum)
    code, err, logs = run.finish()
    assert code == 0, err
    assert run.record()["signals"] == [signum.name]
    forwarded = _by_event(logs, "signal_forwarded")["fields"]
    assert forwarded["signal"] == signum.name
    assert forwarded["pid"] == run.record()["pid"]


def test_vllm_killed_by_a_signal_gives_128_plus_n(launch: Any, hf_config: Factory) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, behavior="die-by-signal")
    run.wait_started()
    run.proc.send_signal(signal.SIGTERM)
    code, _, logs = run.finish()
    assert code == 128 + signal.SIGTERM
    assert _by_event(logs, "vllm_exited")["fields"] == {"exit_code": 143, "signal": "SIGTERM"}


def _dead(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # a zombie has exited; only its parent's wait is missing


def test_shutdown_timeout_kills_vllm_and_its_workers(launch: Any, hf_config: Factory) -> None:
    run = launch(
        hf_config(shutdown_timeout_seconds=1),
        env={"VLLM_API_KEY": API_KEY, "STANDIN_VLLM_GRANDCHILD": "1"},
        behavior="ignore-term",
    )
    started = run.wait_started()
    run.proc.send_signal(signal.SIGTERM)
    code, _, logs = run.finish()
    assert code == 128 + signal.SIGKILL
    assert run.record()["signals"] == ["SIGTERM"]  # it was asked first
    assert _events(logs)[-3:] == ["signal_forwarded", "shutdown_timeout", "vllm_exited"]
    assert _by_event(logs, "vllm_exited")["fields"]["signal"] == "SIGKILL"
    grandchild = started["grandchild_pid"]
    deadline = time.monotonic() + 10
    while not _dead(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _dead(grandchild), "the worker in vLLM's process group survived the kill"


def _single_error_line(err: str) -> dict[str, Any]:
    lines = err.splitlines()
    assert len(lines) == 1, err
    record = json.loads(lines[0])
    assert set(record) == {"ts", "level", "event", "fields"}
    assert record["level"] == "error" and record["event"] == "config_invalid"
    return record["fields"]


def test_missing_config_file_exits_78_before_vllm(launch: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "serving.json"
    run = launch(None, env={"LLMCTL_SERVING_CONFIG": str(missing)})
    code, err, _ = run.finish()
    assert code == 78
    fields = _single_error_line(err)
    assert f"no serving config at {missing}" in fields["error"]
    assert not run.record_path.exists()  # vLLM never started


def test_default_config_path_is_etc_llmctl(launch: Any) -> None:
    code, err, _ = launch(None).finish()
    assert code == 78
    assert "no serving config at /etc/llmctl/serving.json" in _single_error_line(err)["error"]


def test_invalid_json_exits_78(launch: Any, tmp_path: Path) -> None:
    path = tmp_path / "serving.json"
    path.write_text('{"model": ')
    code, err, _ = launch(None, env={"LLMCTL_SERVING_CONFIG": str(path)}).finish()
    assert code == 78
    assert "is not valid JSON" in _single_error_line(err)["error"]


def test_invalid_config_exits_78_with_the_reason(launch: Any, hf_config: Factory) -> None:
    run = launch(hf_config(tensor_parallel=0), env={"VLLM_API_KEY": API_KEY})
    code, err, _ = run.finish()
    assert code == 78
    fields = _single_error_line(err)
    assert "tensor_parallel must be >= 1" in fields["error"]
    assert fields["exit_code"] == 78
    assert not run.record_path.exists()


def test_config_file_is_read(launch: Any, tmp_path: Path, s3_config: Factory) -> None:
    path = tmp_path / "serving.json"
    path.write_text(json.dumps(s3_config()))
    run = launch(None, env={"LLMCTL_SERVING_CONFIG": str(path), "VLLM_API_KEY": API_KEY})
    code, err, logs = run.finish()
    assert code == 0, err
    assert _by_event(logs, "serve_plan")["fields"]["config"] == str(path)
    assert run.record()["argv"][1].startswith("s3://")


def test_secrets_reach_vllm_by_env_and_never_the_logs(launch: Any, hf_config: Factory) -> None:
    config = hf_config(hf_token_env="HF_TOKEN")
    run = launch(config, env={"VLLM_API_KEY": API_KEY, "HF_TOKEN": HF_TOKEN}, version="0.11.0")
    code, err, logs = run.finish()
    assert code == 0, err
    record = run.record()
    assert record["env"]["VLLM_API_KEY"] == API_KEY
    assert record["env"]["HF_TOKEN"] == HF_TOKEN
    assert not any(API_KEY in a or HF_TOKEN in a for a in record["argv"])
    assert API_KEY not in err and HF_TOKEN not in err
    plan = _by_event(logs, "serve_plan")["fields"]
    assert plan["api_key_from"] == "VLLM_API_KEY" and plan["hf_token_from"] == "HF_TOKEN"


def test_api_key_from_another_variable_is_handed_over_as_vllm_api_key(
    launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(api_key_env="LLM_GATEWAY_KEY"), env={"LLM_GATEWAY_KEY": API_KEY})
    code, err, _ = run.finish()
    assert code == 0, err
    assert run.record()["env"]["VLLM_API_KEY"] == API_KEY
    assert API_KEY not in err


@pytest.mark.parametrize("key", ["api_key_env", "hf_token_env"])
def test_a_named_secret_that_is_missing_fails_closed(
    key: str, launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(**{key: "ABSENT_SECRET"}), env={"VLLM_API_KEY": API_KEY})
    code, err, _ = run.finish()
    assert code == 78
    assert "ABSENT_SECRET, which is not set or empty" in _single_error_line(err)["error"]
    assert not run.record_path.exists()


def test_no_api_key_is_said(launch: Any, hf_config: Factory) -> None:
    code, _, logs = launch(hf_config(api_key_env=None)).finish()
    assert code == 0
    assert _by_event(logs, "no_api_key")["level"] == "info"


def test_missing_vllm_executable_exits_127(launch: Any, hf_config: Factory, tmp_path: Path) -> None:
    env = {"VLLM_API_KEY": API_KEY, "LLMCTL_VLLM_BIN": str(tmp_path / "no-such-vllm")}
    code, _, logs = launch(hf_config(), env=env).finish()
    assert code == 127
    assert _by_event(logs, "vllm_not_found")["level"] == "error"


def test_every_log_line_is_one_json_object(launch: Any, hf_config: Factory) -> None:
    _, err, _ = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}).finish()
    lines = err.splitlines()
    assert len(lines) >= 3
    for line in lines:
        record = json.loads(line)
        assert list(record) == ["ts", "level", "event", "fields"]
        assert record["ts"].endswith("Z") and isinstance(record["fields"], dict)


def test_dry_run_prints_the_argv_and_starts_nothing(launch: Any, hf_config: Factory) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, args=("--dry-run",))
    out, _ = run.proc.communicate()
    assert run.proc.returncode == 0
    argv = json.loads(out)
    assert argv[1:] == ["serve", *flags.build_serve_args(hf_config())]
    assert not run.record_path.exists()


def test_the_image_package_runs_alone(launch: Any, tmp_path: Path, s3_config: Factory) -> None:
    # The copy in the image is `llmctl_serving`, with no llmctl package beside it.
    context = write_image_context(render_image_context("0.11.0"), tmp_path / "ctx")
    run = launch(
        s3_config(),
        env={"VLLM_API_KEY": API_KEY},
        version="0.11.0",
        module="llmctl_serving.launcher",
        pythonpath=str(context),
    )
    code, err, _ = run.finish()
    assert code == 0, err
    assert run.record()["argv"] == ["serve", *flags.build_serve_args(s3_config())]


def test_mask_argv_hides_secret_flag_values() -> None:
    argv = ["vllm", "serve", "m", "--api-key", "k1", "--hf-token=k2", "--port", "8000"]
    assert mask_argv(argv) == [
        "vllm", "serve", "m", "--api-key", "***", "--hf-token=***", "--port", "8000",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["__init__.py", "flags.py", "launcher.py", "vllm_versions.py"])
def test_image_modules_import_only_the_standard_library(name: str) -> None:
    import sys

    tree = ast.parse((SERVING_DIR / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside llmctl_serving
                continue
            roots = [(node.module or "").split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in sys.stdlib_module_names or root == "__future__", f"{name}: {root}"


# --- drain and version check ---


def test_sigterm_drains_within_the_shutdown_timeout_and_exits_clean(
    launch: Any, hf_config: Factory
) -> None:
    # vLLM >= 0.18 gets --shutdown-timeout: in-flight work (2 s here) finishes before the exit,
    # and the launcher's kill deadline (timeout + margin) never fires.
    config = hf_config(vllm_version="0.33.0", shutdown_timeout_seconds=5)
    run = launch(
        config,
        env={"VLLM_API_KEY": API_KEY, "STANDIN_VLLM_DRAIN_SECONDS": "2"},
        behavior="drain",
        version="0.33.0",
    )
    run.wait_started()
    sent = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    code, err, logs = run.finish()
    took = time.monotonic() - sent
    assert code == 0, err
    assert run.record()["drained_seconds"] == 2
    assert 2 <= took < 5 + flags.KILL_MARGIN_SECONDS
    assert "shutdown_timeout" not in _events(logs)
    plan = _by_event(logs, "serve_plan")["fields"]
    assert plan["kill_after_seconds"] == 5 + flags.KILL_MARGIN_SECONDS


def test_before_0_18_vllm_gets_no_drain_flag_and_aborts(launch: Any, hf_config: Factory) -> None:
    run = launch(
        hf_config(vllm_version="0.17.1", shutdown_timeout_seconds=5),
        env={"VLLM_API_KEY": API_KEY, "STANDIN_VLLM_DRAIN_SECONDS": "2"},
        behavior="drain",
        version="0.17.1",
    )
    run.wait_started()
    run.proc.send_signal(signal.SIGTERM)
    code, err, _ = run.finish()
    assert code == 0, err
    assert run.record()["drained_seconds"] == 0  # no --shutdown-timeout: vLLM aborts at once


def test_another_minor_version_installed_is_refused_with_one_line(
    launch: Any, hf_config: Factory
) -> None:
    run = launch(hf_config(vllm_version="0.33.0"), installed="0.26.0")
    code, err, _ = run.finish()
    assert code == 78
    error = _single_error_line(err)["error"]
    assert "installed vLLM 0.26.0 is not the configured vllm_version 0.33.0" in error
    assert not run.record_path.exists()  # vLLM never started


def test_a_patch_difference_or_a_local_build_tag_is_not_refused(
    launch: Any, hf_config: Factory
) -> None:
    env = {"VLLM_API_KEY": API_KEY}
    run = launch(hf_config(vllm_version="0.11.0"), env=env, installed="0.11.2")
    code, err, logs = run.finish()
    assert code == 0, err
    assert _by_event(logs, "vllm_version_patch_differs")["fields"]["installed"] == "0.11.2"
    run = launch(hf_config(vllm_version="0.26.0"), env=env, installed="0.26.0+cu130")
    code, err, logs = run.finish()
    assert code == 0, err
    assert not [r for r in logs if r["level"] == "warning"]


def test_no_vllm_metadata_is_a_warning(launch: Any, hf_config: Factory) -> None:
    run = launch(hf_config(), env={"VLLM_API_KEY": API_KEY}, installed=None)
    code, err, logs = run.finish()
    assert code == 0, err
    assert "vllm_version_unknown" in _events(logs)
