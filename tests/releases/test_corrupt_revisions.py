"""One stray or corrupt revision file (issue 14, item 10) is skipped and reported; it no longer
blocks history, the last applied revision (status, plan, apply) or the rollback target."""

from __future__ import annotations

import json

import pytest

from llmctl.errors import LlmctlError
from llmctl.releases.backend import Backend
from llmctl.releases.revisions import RevisionStore
from tests.releases.fixtures import deployment as deployment_ir
from tests.releases.fixtures import release_of


@pytest.mark.parametrize("garbage", [b"{not json", b"[]", b'{"number": "x"}', b""])
def test_a_corrupt_revision_is_skipped_and_reported(backend: Backend, garbage: bytes) -> None:
    store = RevisionStore(backend, "support-bot")
    ir = deployment_ir()
    first = store.record("applied", release_of(ir), "spec", {})
    backend.write("llmctl/support-bot/revisions/000002.json", garbage)
    backend.write("llmctl/support-bot/revisions/notes.txt", b"a stray file")
    assert [r.number for r in store.list()] == [1]
    assert store.latest("applied").number == first.number
    assert [rev.number for rev, _ in store.history()] == [1]
    assert 2 in store.skipped and "revision" in store.skipped[2]
    third = store.record("applied", release_of(ir), "spec", {})
    assert third.number == 3  # numbering moves past the unreadable one
    with pytest.raises(LlmctlError):
        store.get(2)  # asked for by number, it still says what is wrong


def test_history_command_reports_the_skipped_revision(cli, tmp_path) -> None:
    from llmctl.releases.backend import open_backend

    state = f"file://{tmp_path}/state"
    store = RevisionStore(open_backend(state), "support-bot")
    store.record("applied", release_of(deployment_ir()), "spec", {})
    open_backend(state).write("llmctl/support-bot/revisions/000002.json", b"{oops")
    code, out, err = cli("history", "--name", "support-bot", "--state", state, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["number"] for r in data["revisions"]] == [1]
    assert data["warnings"] and "skipped revision 2" in data["warnings"][0]
