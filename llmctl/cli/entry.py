"""The console-script entry point. Kept tiny: `llmctl --help` is answered from a cache of the
rendered help when one matches this installation, without importing typer or rich (start-up
time is part of a CLI's feel; see bench/startup.py)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from llmctl.cli import interrupt  # stdlib only, loaded before anything can be interrupted
from llmctl.home import llmctl_home  # stdlib only

_HELP_ARGS = (["--help"], ["-h"])


def _help_cache() -> Path:
    """Cache file for the root help of this exact code and terminal width."""
    cli_dir = Path(__file__).parent
    h = hashlib.sha256()
    for f in sorted(cli_dir.glob("*.py")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_mtime_ns}:{st.st_size};".encode())
    h.update(os.environ.get("COLUMNS", "").encode())
    return llmctl_home() / "cache" / f"help-{h.hexdigest()[:16]}.txt"


def run() -> None:
    """Run llmctl; Ctrl-C at any moment (imports included) is one line and exit 130."""
    argv = sys.argv[1:]
    try:
        _run()
    except KeyboardInterrupt:
        interrupt.exit_interrupted(argv)
    except SystemExit as exc:
        if exc.code == interrupt.INTERRUPTED:  # already reported: leave without the shutdown
            interrupt.exit_interrupted(argv, line="")
        raise


def _run() -> None:
    """The root help comes from the cache when it is fresh; everything else from the app."""
    if sys.argv[1:] in _HELP_ARGS and os.environ.get("LLMCTL_NO_HELP_CACHE") != "1":
        cache = _help_cache()
        try:
            sys.stdout.write(cache.read_text(encoding="utf-8"))
            sys.exit(0)
        except OSError:
            _write_help_cache(cache)
    from llmctl.cli.main import run as run_app

    run_app()


def _write_help_cache(cache: Path) -> None:
    """Render the root help once (plain text) and keep it for the next `llmctl --help`."""
    import contextlib
    import io

    from llmctl.cli.main import build_command

    buf = io.StringIO()
    env_no_color = os.environ.get("NO_COLOR")
    os.environ["NO_COLOR"] = "1"
    try:
        with contextlib.redirect_stdout(buf):
            build_command().main(["--help"], prog_name="llmctl", standalone_mode=False)
    except Exception:  # noqa: BLE001 - the cache is an optimisation; never fail help over it
        return
    finally:
        if env_no_color is None:
            os.environ.pop("NO_COLOR", None)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        pass
