"""A member of a multi-node group: the launcher adds its rank and the leader's address from
LeaderWorkerSet's environment, `--headless` on every member but the leader, and refuses to
start (exit 78) without them. The flags exist in the pinned version's own flag set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmctl.serving import flags
from tests.serving.conftest import make_hf_config

API_KEY = "sk-test-not-real"
GROUP = {"nodes": 2, "master_port": 29500}
LEADER = "llama-405b-h100-group-0.llama-405b-h100-group.llm"


def _config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "vllm_version": "0.33.0",
        "tensor_parallel": 8,
        "pipeline_parallel": 2,
        "multi_node": GROUP,
    }
    return make_hf_config(**{**base, **overrides})


def _dry_run(launch: Any, env: dict[str, str]) -> tuple[int, list[str], str]:
    run = launch(_config(), env={"VLLM_API_KEY": API_KEY, **env}, args=("--dry-run",))
    out, err = run.proc.communicate()
    return run.proc.returncode, (json.loads(out) if run.proc.returncode == 0 else []), err


def test_the_leader_serves_and_a_worker_is_headless(launch: Any) -> None:
    code, leader, _ = _dry_run(launch, {"LWS_WORKER_INDEX": "0", "LWS_LEADER_ADDRESS": LEADER})
    assert code == 0
    static = flags.build_serve_args(_config())
    assert leader[2:] == [*static, "--node-rank", "0", "--master-addr", LEADER]
    code, worker, _ = _dry_run(launch, {"LWS_WORKER_INDEX": "1", "LWS_LEADER_ADDRESS": LEADER})
    assert code == 0
    assert worker[2:] == [*static, "--node-rank", "1", "--master-addr", LEADER, "--headless"]
    for argv in (leader, worker):
        i = argv.index("--nnodes")
        assert argv[i + 1] == "2" and "--distributed-executor-backend" in argv
    # every flag is one vLLM 0.33.0 accepts (per its own argument definitions)
    accepted = set(json.loads(_flag_file())["versions"]["0.33.0"]["flags"])
    assert {a for a in worker if a.startswith("--")} <= accepted


def _flag_file() -> str:
    from pathlib import Path

    return (Path(flags.__file__).parent / "vllm_flags.json").read_text()


def test_a_member_without_its_group_environment_does_not_start(launch: Any) -> None:
    code, _, err = _dry_run(launch, {})
    assert code == 78
    assert "LWS_WORKER_INDEX" in err and "LWS_LEADER_ADDRESS" in err


def test_a_rank_beyond_the_group_is_refused() -> None:
    with pytest.raises(ValueError, match="group has 2 nodes"):
        flags.group_args(_config(), {"LWS_WORKER_INDEX": "2", "LWS_LEADER_ADDRESS": LEADER})


def test_a_single_node_config_adds_nothing() -> None:
    assert flags.group_args(make_hf_config(), {"LWS_WORKER_INDEX": "1"}) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"multi_node": {"nodes": 2}}, "multi_node must be"),
        ({"multi_node": {"nodes": 1, "master_port": 29500}}, "nodes must be >= 2"),
        ({"multi_node": {"nodes": 2, "master_port": 8000}}, "not the port"),
        ({"pipeline_parallel": 1}, "must equal pipeline_parallel"),
        ({"vllm_version": "0.11.0"}, "without Ray"),
    ],
)
def test_bad_group_configs_are_refused(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        flags.validate_config(_config(**bad))


def test_extra_args_cannot_set_what_the_group_sets() -> None:
    with pytest.raises(ValueError, match="--node-rank"):
        flags.build_serve_args(_config(extra_args=["--node-rank", "3"]))


def test_native_multi_node_starts_at_0_11_2() -> None:
    supported = [v for v in flags.SUPPORTED_VERSIONS if flags.supports_multi_node(v)]
    assert "0.11.0" not in supported and "0.10.2" not in supported and "0.9.2" not in supported
    assert "0.11.2" in supported and flags.DEFAULT_VERSION in supported
