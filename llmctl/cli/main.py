"""`llmctl`: the root command, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.exceptions import TyperException

from llmctl import __version__
from llmctl.cli import output

app = typer.Typer(
    name="llmctl",
    help="Terraform for LLMs: declare models, GPUs, rollout and cost in llm.yaml; plan and apply it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and engine logs.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour (also: NO_COLOR=1).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Terraform for LLMs: declare models, GPUs, rollout and cost in llm.yaml; plan and apply it."""
    output.configure(no_color=no_color, debug=debug)


def _register() -> None:
    from llmctl.cli import commands_spec

    commands_spec.register(app)
    for name in ("commands_image", "commands_deploy", "commands_release", "commands_cost"):
        try:
            module = __import__(f"llmctl.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"llmctl.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def run() -> None:
    """Console-script entry point: run the app; LlmctlError -> message + exit code, never a traceback."""
    from llmctl.errors import ExitCode, Interrupted, LlmctlError

    debug = "--debug" in sys.argv
    try:
        code = app(prog_name="llmctl", standalone_mode=False)
    except LlmctlError as exc:
        if debug:
            raise
        output.report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        output.report_error(Interrupted("interrupted", hint="nothing was changed by this command"))
        sys.exit(ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(ExitCode.INTERRUPTED)
    except TyperException as exc:  # usage errors (typer's own copy of click raises these)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            output.report_error(LlmctlError(exc.message))
        no_args = type(exc).__name__ == "NoArgsIsHelpError"
        sys.exit(ExitCode.OK if no_args else ExitCode.ERROR)
    except OSError as exc:  # a path the user gave that cannot be read or written
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        output.report_error(
            LlmctlError(f"{where}{exc.strerror or exc}", hint="check the path and its permissions")
        )
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler
        if debug:
            raise
        output.report_error(
            LlmctlError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="rerun with --debug for the traceback, and report it",
            )
        )
        sys.exit(ExitCode.ERROR)
    sys.exit(code if isinstance(code, int) else 0)
