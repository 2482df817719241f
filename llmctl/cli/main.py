"""`llmctl`: the root command, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, Any

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


def build_command() -> Any:
    """The click command tree of the app, with help that reads cleanly at 80 columns."""
    from typer.main import get_command

    command = get_command(app)
    _quiet_flag_metavars(command)
    return command


def _quiet_flag_metavars(command: Any) -> None:
    """Flags take no value: show no `<bool>` type next to them in help."""
    ctx = command.context_class(command, help_option_names=["-h", "--help"])
    for param in [*getattr(command, "params", []), command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in (getattr(command, "commands", None) or {}).values():
        _quiet_flag_metavars(sub)


def hoist_global_options(argv: list[str]) -> list[str]:
    """`llmctl plan --no-color` == `llmctl --no-color plan`: global flags work in either position."""
    from llmctl.cli.interrupt import GLOBAL_FLAGS

    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    rest = [a for i, a in enumerate(argv) if not (i < end and a in GLOBAL_FLAGS)]
    return list(dict.fromkeys(flags)) + rest


def run() -> None:
    """Console-script entry point: run the app; LlmctlError -> message + exit code, never a traceback.

    With --debug the message comes first, then the traceback and any engine output."""
    import os

    from llmctl.cli import interrupt
    from llmctl.errors import ExitCode, LlmctlError

    argv = hoist_global_options(sys.argv[1:])
    debug = "--debug" in argv or os.environ.get("LLMCTL_DEBUG") == "1"
    output.configure(no_color=False, debug=False)
    try:
        code = build_command().main(argv, prog_name="llmctl", standalone_mode=False)
    except LlmctlError as exc:
        if "--json" in argv and output.json_pending():  # README: JSON on failure too
            output.print_json(output.error_json(exc, interrupt.command_of(argv)))
        output.report_error(exc)
        if debug:
            output.report_debug(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        output.console(stderr=True).print(interrupt.message(argv), markup=False)
        sys.exit(ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:  # click turns Ctrl-C (and EOF at a prompt) into Abort
        line = interrupt.message(argv)
        if not isinstance(exc.__cause__, KeyboardInterrupt):  # at a prompt
            line = f"interrupted: llmctl {interrupt.command_of(argv)} stopped at the prompt; nothing was changed"
        output.console(stderr=True).print(line, markup=False)
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
        where = f"{exc.filename}: " if exc.filename else ""
        error = LlmctlError(
            f"{where}{exc.strerror or exc}", hint="check the path and its permissions"
        )
        if "--json" in argv and output.json_pending():
            output.print_json(output.error_json(error, interrupt.command_of(argv)))
        output.report_error(error)
        if debug:
            output.report_debug(error)
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler
        error = LlmctlError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="rerun with --debug for the traceback, and report it",
        )
        if debug:
            error.hint = "please report it with the traceback below"
        if "--json" in argv and output.json_pending():
            output.print_json(output.error_json(error, interrupt.command_of(argv)))
        output.report_error(error)
        if debug:
            output.report_debug(error)
        sys.exit(ExitCode.ERROR)
    if code == ExitCode.INTERRUPTED:  # typer turns Ctrl-C inside a command into Exit(130)
        output.console(stderr=True).print(interrupt.message(argv), markup=False)
    sys.exit(code if isinstance(code, int) else 0)
