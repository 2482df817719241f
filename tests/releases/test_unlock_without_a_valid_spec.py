"""`llmctl unlock --force` works on a spec with errors (issue 14, item 10): its name and state
are enough to find and remove llmctl's lock, and what was not checked is said."""

from __future__ import annotations

from llmctl.releases.backend import open_backend
from llmctl.releases.lock import StateLock, read_lock
from tests.spec.test_loader import BASE


def test_unlock_force_with_an_invalid_spec(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(BASE.replace("name: t\n", "name: t\nstate: file://./state\n") + "bogus: 1\n")
    backend = open_backend(f"file://{tmp_path}/state")
    StateLock(backend, "t", "apply").acquire()  # left by a killed process
    code, out, err = cli("unlock", "-f", str(spec))
    assert code == 0, err
    assert "t is locked by" in out and "has errors" in out
    code, out, err = cli("unlock", "-f", str(spec), "--force")
    assert code == 0, err
    assert "removed the lock" in out and read_lock(backend, "t") is None


def test_unlock_with_a_spec_without_a_name_shows_its_errors(cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text("version: 1\nname: Not_A_Name\n")
    code, _, err = cli("unlock", "-f", str(spec), "--force")
    assert code == 1 and "Not_A_Name" in err
