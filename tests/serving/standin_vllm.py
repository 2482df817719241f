"""STAND-IN for the `vllm` executable, used only by the launcher tests.

It is not vLLM: it records what the launcher gave it (argv, environment, the signals it
receives) as JSON to $STANDIN_VLLM_RECORD and then behaves as $STANDIN_VLLM_BEHAVIOR says:

  exit           exit at once with $STANDIN_VLLM_EXIT_CODE (default 0)
  serve          wait; on SIGTERM/SIGINT exit with $STANDIN_VLLM_EXIT_CODE
  ignore-term    record SIGTERM/SIGINT and keep running (only SIGKILL stops it)
  die-by-signal  on SIGTERM, die of SIGTERM (default action)
  drain          on SIGTERM, finish "in-flight requests" for $STANDIN_VLLM_DRAIN_SECONDS, or
                 for the --shutdown-timeout it was given if that is shorter (vLLM >= 0.18
                 does so; 0, its default, aborts at once), then exit 0

With $STANDIN_VLLM_VERSION set it parses argv the way that vLLM version's `vllm serve`
would for the flags below (written from vLLM's docs, independently of llmctl's flag table)
and, like argparse, exits 2 on an unrecognized flag or a bad choice. With
$STANDIN_VLLM_GRANDCHILD=1 it starts a sleeping child of its own (like vLLM's workers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

_COMMON_VALUE = {
    "--served-model-name",
    "--host",
    "--port",
    "--revision",
    "--download-dir",
    "--load-format",
    "--tensor-parallel-size",
    "-tp",
    "--pipeline-parallel-size",
    "-pp",
    "--max-model-len",
    "--dtype",
    "--quantization",
    "-q",
    "--kv-cache-dtype",
    "--gpu-memory-utilization",
    "--max-num-seqs",
    "--api-key",
    "--chat-template",
    "--seed",
    "--max-num-batched-tokens",
}
_COMMON_BOOL = {
    "--enable-prefix-caching",
    "--enforce-eager",
    "--trust-remote-code",
    "--disable-uvicorn-access-log",
}
# Request logging: on by default with --disable-log-requests to turn it off up to v0.10.0;
# from v0.10.1 off by default, --enable-log-requests added, --disable-log-requests deprecated.
# --disable-log-requests is gone from v0.17; --shutdown-timeout (seconds) arrived in v0.18.
_NEW_LOGS = {"--enable-log-requests", "--no-enable-log-requests"}
_BOOL_BY_VERSION = {
    "0.9.2": {"--disable-log-requests"},
    "0.10.2": _NEW_LOGS | {"--disable-log-requests"},
    "0.11.0": _NEW_LOGS | {"--disable-log-requests"},
    "0.17.1": _NEW_LOGS,
    "0.18.1": _NEW_LOGS,
    "0.26.0": _NEW_LOGS,
    "0.33.0": _NEW_LOGS,
}
_VALUE_FROM_0_18 = {"--shutdown-timeout"}
_CHOICES = {
    "--load-format": {
        "auto",
        "pt",
        "safetensors",
        "npcache",
        "dummy",
        "tensorizer",
        "sharded_state",
        "gguf",
        "bitsandbytes",
        "mistral",
        "runai_streamer",
        "runai_streamer_sharded",
        "fastsafetensors",
    },
    "--dtype": {"auto", "half", "float16", "bfloat16", "float", "float32"},
    "--kv-cache-dtype": {"auto", "fp8", "fp8_e4m3", "fp8_e5m2"},
}

RECORD = os.environ["STANDIN_VLLM_RECORD"]
state: dict[str, object] = {
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "signals": [],
    "grandchild_pid": None,
}


def save() -> None:
    tmp = RECORD + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh)
    os.replace(tmp, RECORD)  # readers never see half a file


def reject(message: str) -> None:
    sys.stderr.write(f"usage: vllm serve [model_tag] [options]\nvllm serve: error: {message}\n")
    sys.exit(2)


def parse(argv: list[str], version: str) -> None:
    if version not in _BOOL_BY_VERSION:
        reject(f"stand-in knows no vLLM {version}")
    if not argv or argv[0] != "serve":
        reject("the stand-in only implements `serve`")
    value_flags, bool_flags = _COMMON_VALUE, _COMMON_BOOL | _BOOL_BY_VERSION[version]
    if tuple(int(p) for p in version.split(".")) >= (0, 18, 0):
        value_flags = value_flags | _VALUE_FROM_0_18
    positional = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        name = "--" + name[2:].replace("_", "-") if name.startswith("--") else name
        if name in value_flags:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                reject(f"argument {name}: expected one argument")
            if name in _CHOICES and value not in _CHOICES[name]:
                reject(f"argument {name}: invalid choice: {value!r}")
        elif name in bool_flags and not eq:
            pass
        elif arg.startswith("-"):
            reject(f"unrecognized arguments: {arg}")
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        reject(f"expected exactly one model, got {positional}")


def main() -> None:
    behavior = os.environ.get("STANDIN_VLLM_BEHAVIOR", "exit")
    code = int(os.environ.get("STANDIN_VLLM_EXIT_CODE", "0"))
    version = os.environ.get("STANDIN_VLLM_VERSION")
    if version:
        parse(sys.argv[1:], version)

    def on_signal(signum: int, _frame: object) -> None:
        signals = state["signals"]
        assert isinstance(signals, list)
        signals.append(signal.Signals(signum).name)
        save()
        if behavior == "serve":
            sys.exit(code)
        if behavior == "drain" and signum == signal.SIGTERM:
            argv = sys.argv[1:]
            allowed = (
                float(argv[argv.index("--shutdown-timeout") + 1])
                if "--shutdown-timeout" in argv
                else 0.0
            )
            time.sleep(min(allowed, float(os.environ.get("STANDIN_VLLM_DRAIN_SECONDS", "0"))))
            state["drained_seconds"] = min(
                allowed, float(os.environ.get("STANDIN_VLLM_DRAIN_SECONDS", "0"))
            )
            save()
            sys.exit(0)
        if behavior == "die-by-signal" and signum == signal.SIGTERM:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    if os.environ.get("STANDIN_VLLM_GRANDCHILD") == "1":
        sleeper = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "import time\nwhile True: time.sleep(60)",
            ]
        )
        state["grandchild_pid"] = sleeper.pid
    save()  # after the handlers are in place: a test may signal as soon as this exists
    if behavior == "exit":
        sys.exit(code)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
