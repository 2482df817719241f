"""The serving image's entrypoint: read the serving config, start `vllm serve`, supervise it.

STDLIB ONLY: this module is copied into the serving image (`python3 -m llmctl_serving.launcher`);
in the repo it runs as `python -m llmctl.serving.launcher`.

What it does, in order:
1. Read the config from $LLMCTL_SERVING_CONFIG_JSON, else from the file at
   $LLMCTL_SERVING_CONFIG (default /etc/llmctl/serving.json), and validate it. A missing or bad
   config, or a secret the config names but the environment lacks, is one JSON log line and
   exit 78 (EX_CONFIG) before vLLM starts.
2. Compare the installed vLLM (its package metadata) with the configured `vllm_version`: a
   different minor version is one JSON log line and exit 78, since the flag table would be
   the wrong one; a different patch is a warning; no vLLM metadata (a custom install) is a
   warning too.
3. Build the argv from the flag table of the pinned vLLM version (for a member of a
   multi-node group, plus its rank and the leader's address from LeaderWorkerSet's
   environment; a missing one is exit 78) and the child's environment:
   the API key as VLLM_API_KEY and the HF token as HF_TOKEN (vLLM and huggingface_hub read
   those), never as flags, and never logged.
4. Start $LLMCTL_VLLM_BIN (default `vllm`) `serve ...` in its own process group, forward
   SIGTERM/SIGINT to it (vLLM drains for `shutdown_timeout_seconds` where it has
   --shutdown-timeout), and after `kill_after_seconds` SIGKILL the group.
5. Exit with vLLM's exit code, or 128+N when vLLM died of signal N.

Logs are JSON lines on stderr: {"ts", "level", "event", "fields"}.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

from .flags import build_serve_args, group_args, model_ref, secret_flags, validate_config

EX_CONFIG = 78  # sysexits.h: configuration error
EX_NOTFOUND = 127  # as a shell does when the command is not found
EX_NOEXEC = 126  # ... and when it is found but cannot be executed
DEFAULT_CONFIG_PATH = "/etc/llmctl/serving.json"
MASK = "***"
_POLL_SECONDS = 0.05


class ConfigError(Exception):
    """The serving config, or the environment it relies on, is unusable."""


class JsonLog:
    """One JSON object per line; every string it writes has the registered secrets masked."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._secrets: set[str] = set()

    def add_secret(self, value: str) -> None:
        """Never write `value` from now on."""
        if value:
            self._secrets.add(value)

    def _mask(self, obj: Any) -> Any:
        if isinstance(obj, str):
            for secret in self._secrets:
                obj = obj.replace(secret, MASK)
            return obj
        if isinstance(obj, Mapping):
            return {str(k): self._mask(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self._mask(v) for v in obj]
        return obj

    def emit(self, level: str, event: str, **fields: Any) -> None:
        """Write one log line."""
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "event": event,
            "fields": self._mask(fields),
        }
        self.stream.write(json.dumps(record, sort_keys=False, default=str) + "\n")
        self.stream.flush()


def mask_argv(argv: list[str]) -> list[str]:
    """argv with the values of secret-carrying flags replaced by ***."""
    secret = secret_flags()
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in secret:
            out.append(f"{name}={MASK}" if eq else arg)
            hide_next = not eq
        else:
            out.append(arg)
    return out


def load_config(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The validated serving config and where it came from; ConfigError if unusable."""
    inline = environ.get("LLMCTL_SERVING_CONFIG_JSON")
    if inline:
        origin, text = "env:LLMCTL_SERVING_CONFIG_JSON", inline
    else:
        path = environ.get("LLMCTL_SERVING_CONFIG") or DEFAULT_CONFIG_PATH
        origin = path
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise ConfigError(
                f"no serving config at {path}: mount it there, or set "
                "LLMCTL_SERVING_CONFIG (a path) or LLMCTL_SERVING_CONFIG_JSON (the JSON)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read serving config {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"serving config from {origin} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno} column {exc.colno})"
        ) from None
    try:
        return validate_config(data), origin
    except ValueError as exc:
        raise ConfigError(f"{exc} (from {origin})") from None


def installed_vllm_version() -> str | None:
    """The version of the vllm distribution this Python sees (no import of vllm), or None."""
    try:
        return importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_vllm_version(configured: str, installed: str | None, log: JsonLog) -> None:
    """ConfigError when the installed vLLM is another minor version than the configured one."""
    if installed is None:
        log.emit(
            "warning",
            "vllm_version_unknown",
            configured=configured,
            detail="no vllm package metadata; the flag table of the configured version is used",
        )
        return
    base = installed.split("+", 1)[0]  # 0.26.0+cu130: the local part is the build, not the API
    if base == configured:
        return
    if base.split(".")[:2] != configured.split(".")[:2]:
        raise ConfigError(
            f"installed vLLM {installed} is not the configured vllm_version {configured}: "
            "use the image of that version, or set engine.vllm_version to the installed one"
        )
    log.emit("warning", "vllm_version_patch_differs", configured=configured, installed=installed)


def child_environment(
    config: Mapping[str, Any], environ: Mapping[str, str], log: JsonLog
) -> dict[str, str]:
    """vLLM's environment: ours, plus VLLM_API_KEY and HF_TOKEN from the variables named."""
    env = dict(environ)
    env.pop("LLMCTL_SERVING_CONFIG_JSON", None)
    for name in ("VLLM_API_KEY", "HF_TOKEN"):  # mask them even when the config names others
        log.add_secret(environ.get(name, ""))
    for key, target in (("api_key_env", "VLLM_API_KEY"), ("hf_token_env", "HF_TOKEN")):
        name = config[key]
        if name is None:
            continue
        value = environ.get(name, "")
        if not value:
            # Fail closed: an API key that is configured but absent would serve unauthenticated.
            raise ConfigError(
                f"{key} names the environment variable {name}, which is not set or empty; "
                "mount the Kubernetes Secret that holds it"
            )
        log.add_secret(value)
        env[target] = value
    room = config.get("room")
    if room:  # read by the room middleware inside vLLM's API server (room.py)
        env["LLMCTL_ROOM_MAX_IN_FLIGHT"] = str(room["max_in_flight"])
        env["LLMCTL_ROOM_MAX_WAITING"] = str(room["max_waiting"])
    if config["load"]["mode"] in ("download", "local"):
        # Tokenizer and config files go to the cache volume too, next to the weights.
        env.setdefault("HF_HOME", config["load"]["cache_dir"])
    if config["load"]["mode"] == "local":
        env.setdefault("HF_HUB_OFFLINE", "1")  # local weights: nothing is fetched from the Hub
    return env


class Supervisor:
    """Runs vLLM as a child, forwards termination signals, and enforces the shutdown timeout."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float, log: JsonLog):
        self.argv, self.env, self.timeout, self.log = argv, env, timeout, log
        self.child: subprocess.Popen[bytes] | None = None
        self.deadline: float | None = None
        self.pending: list[int] = []  # signals that arrived before vLLM was started
        self.unlogged: list[int] = []  # forwarded signals not yet logged

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout
        if self.child is None:
            self.pending.append(signum)
            return
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        assert self.child is not None
        try:
            os.kill(self.child.pid, signum)
        except ProcessLookupError:
            return
        # Logged by the wait loop: writing to stderr inside a signal handler could re-enter
        # a write the main code was in the middle of.
        self.unlogged.append(signum)

    def _log_forwarded(self) -> None:
        assert self.child is not None
        while self.unlogged:
            name = signal.Signals(self.unlogged.pop(0)).name
            self.log.emit("info", "signal_forwarded", signal=name, pid=self.child.pid)

    def run(self) -> int:
        """Start vLLM and return the exit code the launcher should exit with."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        try:
            # Own session: a terminal's Ctrl-C reaches vLLM once (through us), and the
            # timeout kill can take vLLM's worker processes down with it.
            self.child = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
        except FileNotFoundError:
            self.log.emit(
                "error",
                "vllm_not_found",
                executable=self.argv[0],
                hint="set LLMCTL_VLLM_BIN or put vllm on PATH",
            )
            return EX_NOTFOUND
        except PermissionError:
            self.log.emit("error", "vllm_not_executable", executable=self.argv[0])
            return EX_NOEXEC
        self.log.emit("info", "vllm_started", pid=self.child.pid)
        for early in self.pending:  # arrived while vLLM was being started
            self._forward(early)
        raw = self._wait()  # exit code, or -N when vLLM died of signal N
        code = 128 - raw if raw < 0 else raw
        self.log.emit(
            "info" if code == 0 else "error",
            "vllm_exited",
            exit_code=code,
            signal=signal.Signals(-raw).name if raw < 0 else None,
        )
        return code

    def _wait(self) -> int:
        assert self.child is not None
        pid = self.child.pid
        while True:
            # waitpid(-1): as PID 1 in a container we also reap vLLM's orphaned workers.
            try:
                reaped, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # someone else reaped vLLM: its status is lost
                self.log.emit("error", "vllm_status_lost", pid=pid)
                return 1
            self._log_forwarded()
            if reaped == pid:
                raw = os.waitstatus_to_exitcode(status)
                self.child.returncode = raw  # so Popen does not try to reap it again
                return raw
            if reaped == 0:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self._kill_group(pid)
                time.sleep(_POLL_SECONDS)

    def _kill_group(self, pid: int) -> None:
        self.log.emit(
            "warning", "shutdown_timeout", timeout_seconds=self.timeout, action="SIGKILL", pid=pid
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.deadline = None  # one kill; the loop now only waits for the exit status


def main(argv: list[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    """Run the launcher; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if environ is None else environ
    dry_run = "--dry-run" in args
    log = JsonLog(sys.stderr)
    try:
        config, origin = load_config(env)
        check_vllm_version(config["vllm_version"], installed_vllm_version(), log)
        vllm_args = build_serve_args(config) + group_args(config, env)
        child_env = child_environment(config, env, log)
    except (ConfigError, ValueError) as exc:
        log.emit("error", "config_invalid", error=str(exc), exit_code=EX_CONFIG)
        return EX_CONFIG
    command = [env.get("LLMCTL_VLLM_BIN") or "vllm", "serve", *vllm_args]
    if config["api_key_env"] is None:
        # llmctl's own Deployments: the gateway checks API keys and a NetworkPolicy admits only
        # gateway and monitoring traffic. Said at info level so it is visible, not alarming.
        log.emit(
            "info",
            "no_api_key",
            detail="vLLM does not check API keys in this pod; the gateway in front of it must",
        )
    log.emit(
        "info",
        "serve_plan",
        config=origin,
        model=config["model"],
        served_name=config["served_name"],
        vllm_version=config["vllm_version"],
        source=config["source"],
        model_ref=model_ref(config),
        revision=config["revision"],
        load_mode=config["load"]["mode"],
        api_key_from=config["api_key_env"],
        hf_token_from=config["hf_token_env"],
        shutdown_timeout_seconds=config["shutdown_timeout_seconds"],
        kill_after_seconds=config["kill_after_seconds"],
        argv=mask_argv(command),
    )
    if dry_run:
        print(json.dumps(mask_argv(command)))
        return 0
    return Supervisor(command, child_env, float(config["kill_after_seconds"]), log).run()


if __name__ == "__main__":
    sys.exit(main())
