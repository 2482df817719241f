"""`llmctl rollback --to <the revision that runs now>` changes nothing and records nothing
(issue 14, item 10): no engine update, no new revision. Only the Pulumi CLI is stood in."""

from __future__ import annotations

import json

from tests.engine.test_rollback_cli import REV_A, SPEC, ups


def test_rollback_to_the_current_revision_records_nothing(cli, standin_cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(SPEC.replace("REV", REV_A))
    code, out, err = cli("apply", "-f", str(spec), "--yes", "--json")
    assert code == 0, err
    current = json.loads(out)["revision"]
    before = ups(standin_cli)
    code, out, err = cli("rollback", "--name", "rb", "--to", str(current), "--yes")
    assert code == 0, err
    assert "nothing to roll back" in out
    assert ups(standin_cli) == before
    code, out, _ = cli("history", "--name", "rb", "--json")
    assert [r["number"] for r in json.loads(out)["revisions"]] == [current]


def test_a_budget_only_edit_says_it_recorded_a_revision(cli, standin_cli, tmp_path):
    spec = tmp_path / "llm.yaml"
    spec.write_text(SPEC.replace("REV", REV_A))
    code, out, err = cli("apply", "-f", str(spec), "--yes")
    assert code == 0, err and "Applied: revision 1" in out
    spec.write_text(SPEC.replace("REV", REV_A) + "budget: {monthly_usd: 100000}\n")
    code, out, err = cli("apply", "-f", str(spec), "--yes")
    assert code == 0, err
    assert "Recorded revision 2" in out and "Nothing to apply" not in out
    code, out, err = cli("apply", "-f", str(spec), "--yes")
    assert code == 0, err
    assert "Nothing to apply: revision 2 is current." in out
