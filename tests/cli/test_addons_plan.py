"""A component llmctl does not install, or installs from a local chart, is said in the plan."""

from __future__ import annotations

import json

from tests.conftest import example


def test_plan_names_each_non_default_addon(cli, monkeypatch, tmp_path) -> None:
    chart = tmp_path / "keda"
    chart.mkdir()
    monkeypatch.setenv("LLMCTL_ADDONS", f"envoy-gateway=existing,keda={chart}")
    code, out, err = cli("plan", "--offline", "-f", str(example("quickstart")), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["addons"] == {
        "lab": [
            "envoy-gateway: not installed (the cluster runs it) (set by LLMCTL_ADDONS)",
            f"keda: chart from {chart} (set by LLMCTL_ADDONS)",
        ]
    }
    assert not any("helm.sh" in r["type"] for s in plan["stacks"] for r in s["resources"])
    code, out, _ = cli("plan", "--offline", "-f", str(example("quickstart")))
    assert "addon envoy-gateway: not installed (the cluster runs it)" in out


def test_an_unreadable_addons_setting_is_a_clear_error(cli, monkeypatch) -> None:
    monkeypatch.setenv("LLMCTL_ADDONS", "envoy=existing")
    code, out, err = cli("plan", "--offline", "-f", str(example("quickstart")))
    assert code == 1
    assert "LLMCTL_ADDONS: cannot read 'envoy=existing'" in err
    assert "Traceback" not in err


def test_the_spec_can_skip_an_addon_and_a_missing_local_chart_is_located(cli, tmp_path) -> None:
    text = (
        example("quickstart")
        .read_text()
        .replace(
            "    pools:\n",
            "    addons:\n      envoy_gateway: {install: false}\n      keda: {chart: ./nope}\n    pools:\n",
            1,
        )
    )
    spec = tmp_path / "llm.yaml"
    spec.write_text(text)
    code, out, err = cli("validate", "-f", str(spec))
    assert code == 1
    assert "chart ./nope of keda does not exist" in err
    (tmp_path / "nope").mkdir()
    code, out, err = cli("plan", "--offline", "-f", str(spec), "--json")
    assert code == 0, err
    assert (
        json.loads(out)["addons"]["lab"][0]
        == "envoy-gateway: not installed (the cluster runs it) (set by spec)"
    )
