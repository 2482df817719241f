"""Fixtures for the serving tests: a serving config, and the launcher run as a real subprocess
against the stand-in `vllm` executable (tests/serving/standin_vllm.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN_VLLM = Path(__file__).with_name("standin_vllm.py")
GOLDEN = Path(__file__).with_name("golden")
# Upper bound on waiting for a subprocess to reach a state; never asserted on.
WAIT_LIMIT_SECONDS = 30.0

REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"


def make_hf_config(**overrides: Any) -> dict[str, Any]:
    """A complete hf:// serving config, as compile produces it."""
    config: dict[str, Any] = {
        "model": "llama-8b",
        "served_name": "llama-8b",
        "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
        "revision": REVISION,
        "vllm_version": "0.11.0",
        "tensor_parallel": 1,
        "pipeline_parallel": 1,
        "max_model_len": 8192,
        "dtype": "bfloat16",
        "quantization": None,
        "kv_cache_dtype": "auto",
        "gpu_memory_utilization": 0.9,
        "max_num_seqs": 256,
        "extra_args": [],
        "port": 8000,
        "shutdown_timeout_seconds": 30,
        "api_key_env": "VLLM_API_KEY",
        "hf_token_env": None,
        "load": {"mode": "download", "cache_dir": "/models"},
    }
    config.update(overrides)
    return config


def make_s3_config(**overrides: Any) -> dict[str, Any]:
    """A complete s3:// serving config (streamed with the Run:ai streamer)."""
    base = make_hf_config(
        source="s3://acme-models/llama-3.1-8b-instruct",
        revision=None,
        load={"mode": "stream", "cache_dir": "/models"},
    )
    base.update(overrides)
    return base


@pytest.fixture
def hf_config() -> Callable[..., dict[str, Any]]:
    """Factory: an hf:// serving config with overrides."""
    return make_hf_config


@pytest.fixture
def s3_config() -> Callable[..., dict[str, Any]]:
    """Factory: an s3:// serving config with overrides."""
    return make_s3_config


@dataclass
class LauncherRun:
    """A launcher process and what the stand-in recorded of it."""

    proc: subprocess.Popen[str]
    record_path: Path

    def record(self) -> dict[str, Any]:
        """The stand-in's record (argv, env, signals)."""
        return json.loads(self.record_path.read_text())

    def wait_started(self) -> dict[str, Any]:
        """Block until the stand-in has installed its handlers and written its record."""
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while not self.record_path.exists():
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise AssertionError(f"launcher exited {self.proc.returncode} early:\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError("stand-in vllm never started")
            time.sleep(0.02)
        return self.record()

    def finish(self) -> tuple[int, str, list[dict[str, Any]]]:
        """Wait for the launcher; its exit code, raw stderr and the JSON log records."""
        _, err = self.proc.communicate(timeout=WAIT_LIMIT_SECONDS)
        logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        return self.proc.returncode, err, logs


@pytest.fixture
def standin_bin(tmp_path: Path) -> Path:
    """An executable named `vllm` that execs the stand-in with this interpreter."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "vllm"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN_VLLM}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def launch(tmp_path: Path, standin_bin: Path) -> Iterator[Callable[..., LauncherRun]]:
    """Start `python -m <module>` (the launcher) against the stand-in vllm."""
    started: list[subprocess.Popen[str]] = []

    def _launch(
        config: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        behavior: str = "exit",
        exit_code: int = 0,
        version: str | None = None,
        module: str = "llmctl.serving.launcher",
        pythonpath: str = str(REPO),
        args: tuple[str, ...] = (),
        installed: str | None = "",
    ) -> LauncherRun:
        record = tmp_path / f"record-{len(started)}.json"
        # The vllm distribution the launcher sees (its version check reads the metadata):
        # by default the stand-in's, else the configured version; None: no vllm metadata.
        if installed == "":
            installed = version or (config or {}).get("vllm_version")
        if installed:
            site = tmp_path / f"site-{len(started)}"
            dist = site / f"vllm-{installed}.dist-info"
            dist.mkdir(parents=True)
            (dist / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: vllm\nVersion: {installed}\n"
            )
            pythonpath = f"{site}{os.pathsep}{pythonpath}"
        run_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": pythonpath,
            "LLMCTL_VLLM_BIN": str(standin_bin),
            "STANDIN_VLLM_RECORD": str(record),
            "STANDIN_VLLM_BEHAVIOR": behavior,
            "STANDIN_VLLM_EXIT_CODE": str(exit_code),
        }
        if version:
            run_env["STANDIN_VLLM_VERSION"] = version
        if config is not None:
            run_env["LLMCTL_SERVING_CONFIG_JSON"] = json.dumps(config)
        run_env.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=run_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return LauncherRun(proc, record)

    yield _launch
    for proc in started:  # only the processes this fixture started
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # A failed test can leave the stand-in (own session) or its sleeper behind: end those.
    for record in tmp_path.glob("record-*.json"):
        data = json.loads(record.read_text())
        for pid in (data.get("pid"), data.get("grandchild_pid")):
            if pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
