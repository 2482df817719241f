"""RevisionStore on a directory and on S3 (moto stand-in): numbering, queries, secrets, diffs."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmctl.errors import LlmctlError
from llmctl.ir import Deployment, RouteIR
from llmctl.releases import revisions as revisions_module
from llmctl.releases.backend import Backend, FileBackend
from llmctl.releases.revisions import Revision, RevisionStore, current_user, diff, git_commit

from .fixtures import REV_A, REV_B, SPEC_TEXT, deployment, model, pool, release_of


@dataclass
class OutputValue:
    """Shaped like pulumi.automation.OutputValue (value + secret flag)."""

    value: Any
    secret: bool = False


def record(store: RevisionStore, ir: Deployment, outcome: str = "applied", **kw: Any) -> Revision:
    """Record with the usual spec text and tags unless the test says otherwise."""
    kw.setdefault("spec_text", SPEC_TEXT)
    release = release_of(ir, kw.pop("image_tags", {"llama-8b": "abc123"}))
    kw.setdefault("outputs", {})
    return store.record(outcome, release, **kw)  # type: ignore[arg-type]


def test_numbers_start_at_one_and_list_is_newest_first(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    assert store.list() == [] and store.latest() is None
    made = [record(store, deployment()) for _ in range(3)]
    assert [r.number for r in made] == [1, 2, 3]
    assert [r.number for r in store.list()] == [3, 2, 1]
    assert [r.number for r in store.list(limit=2)] == [3, 2]
    assert backend.list("llmctl/support-bot/revisions/") == [
        f"llmctl/support-bot/revisions/00000{n}.json" for n in (1, 2, 3)
    ]


def test_get_returns_everything_recorded(backend: Backend, tmp_path: Path) -> None:
    store = RevisionStore(backend, "support-bot")
    ir = deployment()
    made = store.record(
        "applied",
        release_of(ir, {"llama-8b": "abc123"}),
        SPEC_TEXT,
        {
            "endpoint": OutputValue("https://llm.example.com"),
            "kubeconfig": OutputValue("apiVersion: v1 ... token: s3cr3t", secret=True),
            "admin_password": {"value": "hunter2", "secret": True},
            "replicas": {"value": 2, "secret": False},
            "zone": "us-east-1a",
        },
        message="first apply",
        cwd=tmp_path,
    )
    got = store.get(1)
    assert got == made
    assert got.deployment == "support-bot" and got.outcome == "applied"
    assert got.spec_text == SPEC_TEXT
    assert got.load_ir() == ir and got.ir == ir.to_json()
    assert got.image_tags == {"llama-8b": "abc123"}
    assert got.release.images == {"llama-8b": "registry.local/vllm:abc123"}
    assert got.outputs == {
        "endpoint": "https://llm.example.com",
        "replicas": 2,
        "zone": "us-east-1a",
    }
    assert got.restored_from is None and got.message == "first apply"
    assert got.user == current_user()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got.created_at)
    stored = backend.read("llmctl/support-bot/revisions/000001.json")
    assert stored is not None
    assert b"s3cr3t" not in stored and b"hunter2" not in stored
    release = json.loads(stored)["release"]  # nested, readable JSON
    assert release["deployment"]["name"] == "support-bot"
    assert release["images"] == {"llama-8b": "registry.local/vllm:abc123"}


def test_get_of_missing_revision_says_how_to_list(backend: Backend) -> None:
    with pytest.raises(LlmctlError) as info:
        RevisionStore(backend, "support-bot").get(7)
    assert info.value.message == "support-bot has no revision 7"
    assert "llmctl history" in info.value.hint


def test_latest_by_outcome(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    record(store, deployment())
    record(store, deployment(models=(model(revision=REV_B),)), outcome="failed")
    latest_applied = store.latest()
    latest_any = store.latest(None)
    assert latest_applied is not None and latest_applied.number == 1
    assert latest_any is not None and latest_any.number == 2
    assert store.latest("rolled-back") is None


def test_previous_good_is_the_rollback_target(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    a, b, c = (
        deployment(),
        deployment(models=(model(revision=REV_B),)),
        deployment(models=(model(replicas=3),)),
    )
    assert store.previous_good() is None
    record(store, a)  # 1
    assert store.previous_good() is None  # nothing to go back to
    record(store, b)  # 2
    record(store, c, outcome="failed")  # 3
    record(store, c, outcome="rolled-back")  # 4
    target = store.previous_good()
    assert target is not None and target.number == 1  # failed and rolled-back never count
    rollback = record(store, target.load_ir(), spec_text=None, restored_from=1)  # 5
    assert rollback.restored_from == 1 and rollback.spec_text is None
    back_again = store.previous_good()
    assert back_again is not None and back_again.number == 2
    record(store, a)  # 6: the same as 5, re-applied
    skipping = store.previous_good()
    assert skipping is not None and skipping.number == 2  # an identical revision is no target
    before_two = store.previous_good(before=2)
    assert before_two is not None and before_two.number == 1


def test_previous_good_sees_image_tag_changes(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    record(store, deployment(), image_tags={"llama-8b": "v1"})
    record(store, deployment(), image_tags={"llama-8b": "v2"})
    target = store.previous_good()
    assert target is not None and target.number == 1


def test_two_writers_racing_for_the_same_number_both_get_one(backend: Backend) -> None:
    """Writer A lists (sees 1) and is about to create 2 when writer B creates 2 first."""
    mine = RevisionStore(backend, "support-bot")
    theirs = RevisionStore(backend, "support-bot")
    record(mine, deployment())
    taken: list[Revision] = []

    class Interleaving:
        """The real backend, with writer B's whole record() run inside A's first create."""

        def __getattr__(self, name: str) -> Any:
            return getattr(backend, name)

        def create_exclusive(self, key: str, data: bytes) -> bool:
            if not taken:
                taken.append(record(theirs, deployment(models=(model(revision=REV_B),))))
            return backend.create_exclusive(key, data)

    mine.backend = Interleaving()  # type: ignore[assignment]
    ours = record(mine, deployment(models=(model(replicas=3),)))
    assert taken[0].number == 2 and ours.number == 3
    assert backend.read("llmctl/support-bot/revisions/000002.json") == taken[0].to_json().encode()
    assert RevisionStore(backend, "support-bot").get(3) == ours
    assert [r.number for r in RevisionStore(backend, "support-bot").list()] == [3, 2, 1]


def test_many_threads_recording_get_distinct_numbers(tmp_path: Path) -> None:
    """Real concurrency on the file backend, where create_exclusive is a hard link."""
    backend = FileBackend(tmp_path / "state")
    barrier = threading.Barrier(8)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            store = RevisionStore(backend, "support-bot")
            barrier.wait()
            numbers.append(record(store, deployment(), message=f"writer {i}").number)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 9))
    messages = {r.message for r in RevisionStore(backend, "support-bot").list()}
    assert messages == {f"writer {i}" for i in range(8)}


def test_deployments_sharing_a_backend_are_apart(backend: Backend) -> None:
    bot, other = RevisionStore(backend, "support-bot"), RevisionStore(backend, "search")
    record(bot, deployment())
    record(other, deployment(name="search"))
    record(other, deployment(name="search"))
    assert [r.number for r in bot.list()] == [1]
    assert [r.deployment for r in other.list()] == ["search", "search"]


def test_record_refuses_unknown_outcome_and_foreign_ir(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    with pytest.raises(ValueError, match="outcome"):
        record(store, deployment(), outcome="succeeded")
    with pytest.raises(ValueError, match="'search'"):
        record(store, deployment(name="search"))
    assert store.list() == []


def test_stored_ir_with_unknown_schema_version_is_refused(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    record(store, deployment())
    key = "llmctl/support-bot/revisions/000001.json"
    data = json.loads(backend.read(key) or b"")
    data["release"]["deployment"]["schema_version"] = 99
    backend.write(key, json.dumps(data).encode())
    with pytest.raises(LlmctlError, match="schema_version 99") as info:
        store.get(1)
    assert "upgrade llmctl" in info.value.hint
    assert store.list() == [] and "schema_version 99" in store.skipped[1]  # reported, not fatal


def test_a_revision_of_the_earlier_format_reads_as_a_release(backend: Backend) -> None:
    """Format 1 stored the IR, {model: tag} and the repository apart; it still reads, and a
    rollback to it deploys the very image it ran."""
    ir = deployment()
    old = {
        "format": 1,
        "number": 1,
        "deployment": "support-bot",
        "outcome": "applied",
        "created_at": "2026-11-30T10:00:00Z",
        "user": "u",
        "git_commit": None,
        "spec_text": SPEC_TEXT,
        "ir": json.loads(ir.to_json()),
        "image_tags": {"llama-8b": "abc123"},
        "image_repository": "reg.example/vllm",
        "outputs": {},
        "restored_from": None,
        "message": "",
    }
    backend.write("llmctl/support-bot/revisions/000001.json", json.dumps(old).encode())
    got = RevisionStore(backend, "support-bot").get(1)
    assert got.load_ir() == ir
    assert got.release.images == {"llama-8b": "reg.example/vllm:abc123"}
    assert got.image_repository == "reg.example/vllm" and got.image_tags == {"llama-8b": "abc123"}


def test_revision_record_with_unknown_format_is_refused(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    made = record(store, deployment())
    assert Revision.from_json(made.to_json()) == made
    data = json.loads(made.to_json())
    data["format"] = 3
    backend.write("llmctl/support-bot/revisions/000001.json", json.dumps(data).encode())
    with pytest.raises(LlmctlError, match="record format 3") as info:
        store.get(1)
    assert "000001.json" in info.value.message


# --- diffs -----------------------------------------------------------------------------------


def revision(ir: Deployment, tags: dict[str, str] | None = None) -> Revision:
    """A revision that was never stored, for diff tests."""
    return Revision(
        1, ir.name, "applied", "2025-01-01T00:00:00Z", "u", None, None, release_of(ir, tags)
    )


def test_diff_of_a_changed_model_revision() -> None:
    old, new = revision(deployment()), revision(deployment(models=(model(revision=REV_B),)))
    assert diff(old, new) == [f"~ model llama-8b: revision {REV_A} -> {REV_B}"]
    assert diff(old, old) == []


def test_diff_of_replicas_pools_engine_and_images() -> None:
    old = revision(deployment(), {"llama-8b": "v1"})
    new = revision(
        deployment(
            models=(model(replicas=3, max_model_len=16384, gpus=2),),
            pools=(pool(nodes=6), pool(name="h100", nodes=2)),
        ),
        {"llama-8b": "v2"},
    )
    assert diff(old, new) == [
        "~ pool dc1/a100: nodes 4 -> 6",
        "+ pool dc1/h100 (8x A100-80GB, 2 nodes)",
        "~ model llama-8b: engine.max_model_len 8192 -> 16384",
        "~ model llama-8b: gpus 1 -> 2",
        "~ model llama-8b: tensor_parallel 1 -> 2",
        "~ model llama-8b on dc1/a100: replicas 2 -> 3",
        "~ image llama-8b: registry.local/vllm:v1 -> registry.local/vllm:v2",
    ]


def test_diff_of_models_added_and_removed_and_gateway() -> None:
    old = revision(deployment())
    new = revision(
        deployment(
            models=(model(name="mistral-7b", revision=None),),
            routes=(RouteIR(name="chat", backends=(("mistral-7b", 100),)),),
            budget={"monthly_usd": 20000, "on_exceed": "block"},
        )
    )
    assert diff(old, new) == [
        "~ budget.monthly_usd none -> 20000.0",
        "~ budget.on_exceed none -> block",
        "- model llama-8b",
        "+ model mistral-7b (hf://meta-llama/Llama-3.1-8B-Instruct, 1 GPU/replica, on dc1/a100 x2)",
        "+ route chat (mistral-7b 100%)",
        "- image llama-8b",
        "+ image mistral-7b: registry.local/vllm:t0",
    ]


def test_history_diffs_against_the_applied_revision_before(backend: Backend) -> None:
    store = RevisionStore(backend, "support-bot")
    record(store, deployment())
    record(store, deployment(models=(model(replicas=3),)), outcome="failed")
    record(store, deployment(models=(model(revision=REV_B),)))
    history = store.history()
    assert [(r.number, r.outcome) for r, _ in history] == [
        (3, "applied"),
        (2, "failed"),
        (1, "applied"),
    ]
    assert history[0][1] == [f"~ model llama-8b: revision {REV_A} -> {REV_B}"]  # vs 1, not 2
    assert history[1][1] == ["~ model llama-8b on dc1/a100: replicas 2 -> 3"]
    assert history[2][1] == [  # the first revision: everything is new
        "+ cluster dc1 (kubernetes, dc1-admin)",
        "+ pool dc1/a100 (8x A100-80GB, 4 nodes)",
        f"+ model llama-8b (hf://meta-llama/Llama-3.1-8B-Instruct@{REV_A}, 1 GPU/replica,"
        " on dc1/a100 x2)",
        "+ gateway llm.example.com",
        "+ image llama-8b: registry.local/vllm:abc123",
    ]
    assert history[0][0].summary()["number"] == 3 and "ir" not in history[0][0].summary()


# --- who and which commit --------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_git_commit_inside_and_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_commit(outside) is None
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    assert git_commit(repo) is None  # no commit yet
    (repo / "llm.yaml").write_text(SPEC_TEXT)
    _git(repo, "add", "llm.yaml")
    _git(repo, "commit", "-q", "-m", "spec")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_commit(repo) == head
    (repo / "llm.yaml").write_text(SPEC_TEXT + "# edited\n")
    assert git_commit(repo) == f"{head}-dirty"
    made = record(
        RevisionStore(FileBackend(tmp_path / "state"), "support-bot"), deployment(), cwd=repo
    )
    assert made.git_commit == f"{head}-dirty"


def test_current_user_falls_back_to_env(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(revisions_module.getpass, "getuser", no_login)
    monkeypatch.setenv("USER", "ci-runner")
    assert current_user() == "ci-runner"
    monkeypatch.delenv("USER")
    assert current_user() == "unknown"
