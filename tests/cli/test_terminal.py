"""Ctrl-C under a real terminal (pexpect): one line saying what stopped and what is left, exit
130, no traceback, no asyncio noise, at any moment of a command."""

from __future__ import annotations

import os
import sys

import pytest

pexpect = pytest.importorskip("pexpect")

NOISE = ("Traceback", "Exception ignored", "KeyboardInterrupt")


def spawn(args: list[str], cwd, tmp_path) -> pexpect.spawn:
    env = {
        **os.environ,
        "LLMCTL_HOME": str(tmp_path / "home"),
        "COLUMNS": "80",
        "PATH": os.path.dirname(sys.executable),  # no Pulumi CLI: the offline plan
    }
    return pexpect.spawn(
        args[0], args[1:], cwd=str(cwd), env=env, encoding="utf-8", timeout=90, dimensions=(40, 80)
    )


@pytest.fixture
def spec_dir(tmp_path, cli):
    code, _, err = cli("init", "-f", str(tmp_path / "llm.yaml"))
    assert code == 0, err
    return tmp_path


def test_ctrl_c_during_plan_says_nothing_was_changed(spec_dir, tmp_path):
    child = spawn([sys.executable, "-m", "llmctl", "plan"], spec_dir, tmp_path)
    child.expect("planning my-llm")  # the spinner: the engine is running
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    text = child.before
    assert child.exitstatus == 130, text
    assert "interrupted: llmctl plan stopped; nothing was changed" in text
    assert not any(n in text for n in NOISE), text


def test_ctrl_c_while_llmctl_is_still_starting(spec_dir, tmp_path):
    # The interrupt lands while typer, rich and pydantic are being imported.
    probe = (
        "import sys; sys.argv = ['llmctl', 'validate']\n"
        "from llmctl.cli.entry import run\n"
        "print('READY', flush=True)\n"
        "run()\n"
    )
    child = spawn([sys.executable, "-c", probe], spec_dir, tmp_path)
    child.expect("READY")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    text = child.before
    assert child.exitstatus == 130, text
    assert "interrupted: llmctl validate stopped; nothing was changed" in text
    assert not any(n in text for n in NOISE), text


def test_interrupt_message_names_the_state_each_command_leaves():
    from llmctl.cli.interrupt import message

    assert message(["plan", "-f", "x.yaml"]).endswith("nothing was changed")
    assert "llmctl status" in message(["apply", "--yes"])
    assert "partly written" in message(["render", "-o", "out"])
    assert message([]) == "interrupted: llmctl stopped; nothing was changed"
